"""A transcript's vocabulary: its segments, their words and the speakers they name, and every conversion between
the forms they take from a speech engine or a transcript file to the database, the API and an export.

- `transcript.segments`: `Segment` (a segment before it is stored: what an engine yields, a transcript file parses
  into, a job stages and writes), `Word` (with its WhisperX JSON form, the stored one), `TranscriptSegment` (a
  stored segment as read, with its speaker reference: what the API serves).
- `transcript.speakers`: speaker labels, the uploader's speaker-count hints, a speaker's voice.
- `transcript.sidecars`: WhisperX JSON, SRT and WebVTT files → segments and voices.
- `transcript.subtitles`: stored segments → export cues (one per segment, or readable ones) → SRT and WebVTT.

It imports nothing of the project, so every layer can use it (tests/test_layers.py): the speech engines (asr/),
the repositories (repo/), the workers, the web routes and the importers all speak it.
"""
