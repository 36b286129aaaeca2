from __future__ import annotations

import re
from pathlib import Path

import pytest

from storage import layout

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


def test_a_new_media_path_is_random_and_under_its_owner() -> None:
    first, second = layout.new_media_path(7), layout.new_media_path(7)
    assert re.fullmatch(r"7/[0-9a-f]{32}", first) and first != second


def test_the_sidecar_sits_next_to_its_media(tmp_path: Path) -> None:
    assert layout.resolve(tmp_path, layout.sidecar_of("3/abc")) == (tmp_path / "3" / "abc.transcript").resolve()


@pytest.mark.parametrize("evil", ["../outside", "/etc/passwd", "3/../../x", "", "."])
def test_stored_paths_cannot_escape_storage(tmp_path: Path, evil: str) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    with pytest.raises(layout.OutsideStorage):
        layout.resolve(storage, evil)


def test_a_symlink_out_of_storage_is_refused(tmp_path: Path) -> None:
    storage, outside = tmp_path / "storage", tmp_path / "secret"
    storage.mkdir()
    outside.write_text("not yours")
    (storage / "3").mkdir()
    (storage / "3" / "link").symlink_to(outside)
    with pytest.raises(layout.OutsideStorage):
        layout.resolve(storage, "3/link")


def test_a_file_inside_storage_resolves_to_itself(tmp_path: Path) -> None:
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "abc").write_bytes(b"media")
    assert layout.resolve(tmp_path, "3/abc").read_bytes() == b"media"
