"""The bounded body cache, Accept-Encoding and If-None-Match parsing (web/body_cache.py)."""

from __future__ import annotations

import gzip

import pytest

from web.body_cache import BodyCache, Encoded, accepts_gzip, etag_matches

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


def test_a_body_is_gzipped_or_unpacked_on_demand() -> None:
    large, small = b'{"text":"' + b"a" * 5000 + b'"}', b"[]"
    raw = Encoded(raw=large)
    packed = raw.as_gzip()
    assert packed.raw is None and packed.gzipped is not None and gzip.decompress(packed.gzipped) == large
    assert packed.size == len(packed.gzipped) < len(large) / 10
    assert packed.as_gzip() is packed and raw.as_raw() is raw and packed.as_raw() == raw
    assert raw.compressible() and packed.compressible() and not Encoded(raw=small).compressible()


def test_the_cache_holds_one_version_per_key_within_its_byte_bound() -> None:
    cache = BodyCache(max_bytes=10)
    cache.put("a", 1, Encoded(b"aaaa"))
    cache.put("b", 1, Encoded(b"bbbb"))
    assert cache.get("a", 1) == Encoded(b"aaaa")  # "a" is now the most recently used
    assert cache.get("a", 2) is None  # another version is a miss
    cache.put("c", 1, Encoded(b"cccc"))  # over 10 bytes: the least recently used ("b") goes
    assert cache.get("b", 1) is None and cache.get("c", 1) is not None and cache.get("a", 1) is not None
    cache.put("a", 3, Encoded(b"AA"))
    cache.put("a", 2, Encoded(b"old"))  # a slower reader of an older version does not replace it
    assert cache.get("a", 3) == Encoded(b"AA") and cache.get("a", 2) is None
    cache.put("a", 3, Encoded(b"AA", b"gz"))  # the same version in another form replaces it, counted again
    cache.put("d", 1, Encoded(b"x" * 11))  # larger than the whole cache: not kept, nothing evicted
    assert cache.get("d", 1) is None and cache.get("c", 1) is not None
    cache.put("e", 1, Encoded(b"eeee"))  # 4 + 4 + 4 > 10: the least recently used ("a", 4 bytes with gz) goes
    assert cache.get("a", 3) is None and cache.get("c", 1) is not None and cache.get("e", 1) is not None


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
