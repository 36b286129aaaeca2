"""Per-speaker talk time, words and turns, and the transcript's keywords, from its segments."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from transcript.segments import Segment, TranscriptSegment

WORD = re.compile(r"[^\W\d_][\w'\u2019-]*", re.UNICODE)
STOPWORDS = frozenset(
    (  # noqa: SIM905
        "a about above after again against all am an and any are as at be because been before being below "
        "between both but by can could did do does doing down during each few for from further had has have "
        "having he her here hers herself him himself his how i if in into is it its itself just let me more "
        "most my myself no nor not now of off on once only or other our ours ourselves out over own same she "
        "should so some such than that the their theirs them themselves then there these they this those "
        "through to too under until up very was we were what when where which while who whom why will with "
        "would you your yours yourself yourselves yeah yes okay ok oh um uh like know think really well "
        "right going get got go gonna want thing things also one two something actually "
    ).split()
)


# A transcript being published (its segments as staged) or a stored one (a summary's input).
Segments = Sequence[Segment | TranscriptSegment]


def speaker_stats(segments: Segments) -> dict[str, dict[str, Any]]:
    """label → talk_time (s), words, turns (a turn starts whenever the speaker changes)."""
    stats: dict[str, dict[str, Any]] = {}
    previous: str | None = None
    for segment in sorted(segments, key=lambda s: (s.start_time, s.end_time)):
        label = segment.speaker_label or "UNKNOWN"
        entry = stats.setdefault(label, {"talk_time": 0.0, "words": 0, "turns": 0})
        entry["talk_time"] = round(entry["talk_time"] + max(0.0, segment.end_time - segment.start_time), 3)
        entry["words"] += len(segment.text.split())
        if label != previous:
            entry["turns"] += 1
        previous = label
    return stats


def keywords(segments: Segments, top: int = 20) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    for segment in segments:
        counts.update(
            w for w in (m.group().lower() for m in WORD.finditer(segment.text)) if len(w) > 2 and w not in STOPWORDS
        )
    return [{"word": word, "count": count} for word, count in counts.most_common(top)]
