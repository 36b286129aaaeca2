"""The check on a published transcript (workers/transcript_warnings.py): speech past the end of the recording."""

from __future__ import annotations

import pytest

from workers.transcript_warnings import past_the_end

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


@pytest.mark.parametrize(
    ("last_end", "duration"),
    [(6.9, 6.9), (7.8, 6.9), (3601.0, 3600.0), (3671.0, 3600.0), (None, 6.9), (18.0, None), (18.0, 0.0)],
)
def test_what_fits_or_cannot_be_judged_is_no_warning(last_end: float | None, duration: float | None) -> None:
    """Within a second, or 2 % of a long recording (a rounded last cue, a header a frame short)."""
    assert past_the_end(last_end, duration) is None


def test_speech_well_past_the_end_is_a_warning_naming_both_lengths() -> None:
    assert past_the_end(18.0, 6.9) == (
        "the transcript's speech runs to 18.0 s, but the recording is only 6.9 s long: the transcript file may "
        "belong to another recording, or its times may be shifted"
    )
    assert past_the_end(3673.0, 3600.0) is not None
