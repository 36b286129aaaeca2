"""The bounded body cache, Accept-Encoding and If-None-Match parsing (web/body_cache.py)."""

from __future__ import annotations

import gzip

import pytest

from web.body_cache import BodyCache, Encoded, accepts_gzip, etag_matches


def test_large_bodies_are_kept_gzipped_and_small_ones_raw() -> None:
    large, small = b'{"text":"' + b"a" * 5000 + b'"}', b"[]"
    packed = Encoded.of(large)
    assert packed.gzipped and gzip.decompress(packed.data) == large and packed.raw() == large
    assert Encoded.of(small) == Encoded(small, False)


def test_the_cache_holds_one_version_per_key_within_its_byte_bound() -> None:
    cache = BodyCache(max_bytes=10)
    cache.put("a", 1, Encoded(b"aaaa", False))
    cache.put("b", 1, Encoded(b"bbbb", False))
    assert cache.get("a", 1) == Encoded(b"aaaa", False)  # "a" is now the most recently used
    assert cache.get("a", 2) is None  # another version is a miss
    cache.put("c", 1, Encoded(b"cccc", False))  # over 10 bytes: the least recently used ("b") goes
    assert cache.get("b", 1) is None and cache.get("c", 1) is not None and cache.get("a", 1) is not None
    cache.put("a", 3, Encoded(b"AA", False))
    cache.put("a", 2, Encoded(b"old", False))  # a slower reader of an older version does not replace it
    assert cache.get("a", 3) == Encoded(b"AA", False) and cache.get("a", 2) is None
    cache.put("d", 1, Encoded(b"x" * 11, False))  # larger than the whole cache: not kept, nothing evicted
    assert cache.get("d", 1) is None and cache.get("c", 1) is not None


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, GZIP;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, identity", False),
        ("identity", False),
        ("br, zstd", False),
        ("", False),
        ("gzip;q=abc", False),
    ],
)
def test_accept_encoding(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('W/"7.12"', True),
        ('"7.12"', True),  # weak comparison ignores W/
        ('"1.1", W/"7.12"', True),
        ("*", True),
        ('W/"7.13"', False),
        ('W/"7.1"', False),
        ("", False),
    ],
)
def test_if_none_match(header: str, matches: bool) -> None:
    assert etag_matches(header, 'W/"7.12"') is matches
