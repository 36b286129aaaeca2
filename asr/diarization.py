"""Who speaks when, on CPU without torch: sherpa-onnx's offline speaker diarization (a pyannote-style segmentation
ONNX model, a speaker-embedding ONNX model, clustering), and assigning the speakers to transcript segments.

    config = DiarizationConfig.from_settings(settings)
    result = diarize(pcm_chunks(path), 16_000, hints, config)      # Diarization: outcome, turns, voices
    segments = assign_speakers(segments, result.turns)              # labels; split where the speaker changes

Memory is bounded for long recordings: audio is diarized in blocks of `block_seconds` (10 minutes by default, held
as float32: 38 MB at 16 kHz; at most 1.5 blocks are buffered, so a short tail is never diarized alone), and the
blocks' speakers are linked into one set of speakers by the cosine of their voice embeddings (the mean of their
turns' embeddings), with the same threshold the clustering uses inside a block. `num_speakers` / `max_speakers`
hints then merge the closest speakers until the count fits; a single-block recording passes `num_speakers` to the
clustering itself. Per block, sherpa-onnx needs the whole block in memory; a turn cut by a block boundary is joined
again when both halves get the same speaker.

When diarization is off, its models are absent or unusable, or it fails, the result says so (`outcome`, `message`)
and has no turns: `assign_speakers` then gives every segment SPEAKER_00, and the worker tells the user why. A model
file whose ONNX metadata lacks a key sherpa-onnx requires is refused here: sherpa-onnx would end the whole process.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from asr.types import Pcm
from config.settings import Settings
from transcript.segments import Segment, Word
from transcript.speakers import DEFAULT_SPEAKER, SpeakerHints, Voice, numbered_speaker

log = logging.getLogger("opentr.asr.diarization")

Outcome = Literal["diarized", "off", "models_missing", "failed"]
MIN_EMBEDDING_SECONDS = 0.3  # shorter turns are too little speech for an embedding on their own
SEGMENTATION_METADATA = (
    "sample_rate",
    "window_size",
    "receptive_field_size",
    "receptive_field_shift",
    "num_speakers",
    "powerset_max_classes",
    "num_classes",
)
EMBEDDING_METADATA = ("framework", "output_dim", "sample_rate", "normalize_samples", "language")
PULL_HINT = "download them with: opentr models pull diarization"


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Diarization:
    """Time-ordered turns with labels SPEAKER_00, SPEAKER_01… (by first appearance), and one voice per label: the
    mean of its turns' embeddings, weighted by their length, with the seconds of speech behind it."""

    outcome: Outcome
    turns: list[Turn] = field(default_factory=list)
    voices: dict[str, Voice] = field(default_factory=dict)
    message: str | None = None


@dataclass(frozen=True)
class DiarizationConfig:
    mode: Literal["auto", "off"]
    segmentation_model: Path
    embedding_model: Path
    threshold: float = 0.5  # cosine distance below which two voices are one speaker (clustering and linking)
    block_seconds: float = 600.0
    num_threads: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> DiarizationConfig:
        return cls(
            settings.opentr_diarization,
            settings.diarization_segmentation_model,
            settings.diarization_embedding_model,
            settings.opentr_diarization_threshold,
            settings.opentr_diarization_block_seconds,
        )


class DiarizationFailed(Exception):
    """The models cannot be used or sherpa-onnx failed; the message is for the user."""


def unavailable(config: DiarizationConfig) -> Diarization | None:
    """The result to use without decoding any audio when diarization cannot run (off, models absent); else None."""
    if config.mode == "off":
        return Diarization("off", message="speaker diarization is off (OPENTR_DIARIZATION=off): one speaker")
    missing = [str(p) for p in (config.segmentation_model, config.embedding_model) if not p.is_file()]
    if missing:
        return Diarization("models_missing", message=f"no diarization model at {', '.join(missing)}; {PULL_HINT}")
    return None


def diarize(
    audio: Pcm | Iterable[Pcm], sample_rate: int, hints: SpeakerHints, config: DiarizationConfig
) -> Diarization:
    """Diarize 1-D float32 mono PCM (one array or consecutive chunks) at `sample_rate`, in bounded memory.
    Never raises for a recording or model problem: the outcome and message say what happened."""
    skipped = unavailable(config)
    if skipped is not None:
        return skipped
    try:
        engine = _engine(config.segmentation_model, config.embedding_model, config.threshold, config.num_threads)
        if sample_rate != engine.sample_rate:
            raise DiarizationFailed(f"audio at {sample_rate} Hz, the diarization models need {engine.sample_rate} Hz")
        chunks: Iterable[Pcm] = [audio] if isinstance(audio, np.ndarray) else audio
        block = max(1, int(config.block_seconds * sample_rate))
        speakers: list[_Speaker] = []
        for offset, samples, only_block in _blocks(chunks, block):
            num_clusters = hints.num_speakers if only_block and hints.num_speakers else -1
            for local in engine.run(samples, offset / sample_rate, num_clusters):
                _link(speakers, local, 1.0 - config.threshold)
    except DiarizationFailed as exc:
        return Diarization("failed", message=str(exc))
    except RuntimeError as exc:  # sherpa-onnx reports model/runtime errors as RuntimeError
        log.warning("diarization failed: %s", exc)
        return Diarization("failed", message=f"speaker diarization failed: {exc}")
    _fit_hints(speakers, hints)
    return _result(speakers)


def assign_speakers(segments: Sequence[Segment], turns: Sequence[Turn]) -> list[Segment]:
    """Label segments by time overlap with the turns. A segment with word timings whose words belong to different
    speakers is split at the word boundaries where the label changes (a word without timing goes with the timed
    word before it, else the one after it); one without timed words takes the speaker it overlaps most (the nearest
    turn when it overlaps none). Without turns every segment is DEFAULT_SPEAKER."""
    if not turns:
        return [replace(s, speaker_label=DEFAULT_SPEAKER) for s in segments]
    index = _TurnIndex(turns)
    labelled: list[Segment] = []
    for segment in segments:
        words = segment.words or ()
        said = [None if w.start is None or w.end is None else index.speaker(w.start, w.end) for w in words]
        first = next((label for label in said if label is not None), None)
        if first is None:
            labelled.append(replace(segment, speaker_label=index.speaker(segment.start_time, segment.end_time)))
            continue
        runs: list[list[Word]] = []
        labels: list[str] = []
        for word, found in zip(words, said, strict=True):
            label = found or (labels[-1] if labels else first)
            if labels and labels[-1] == label:
                runs[-1].append(word)
            else:
                runs.append([word])
                labels.append(label)
        if len(runs) == 1:
            labelled.append(replace(segment, speaker_label=first))
            continue
        for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
            start = segment.start_time if i == 0 else _first_start(run)
            end = segment.end_time if i == len(runs) - 1 else _last_end(run)
            labelled.append(Segment(start, end, _join(run), label, tuple(run)))
    return labelled


# --- internals -----------------------------------------------------------------------------------------------------


@dataclass
class _Speaker:
    """A speaker found so far: its turns, and the length-weighted sum of its turns' unit embeddings."""

    turns: list[tuple[float, float]]
    total: np.ndarray | None
    seconds: float

    def centroid(self) -> np.ndarray | None:
        if self.total is None or not np.any(self.total):
            return None
        result: np.ndarray = self.total / np.linalg.norm(self.total)
        return result


class _Engine:
    """sherpa-onnx's diarization and embedding extractor on one pair of model files (loaded once per process)."""

    def __init__(self, segmentation: Path, embedding: Path, threshold: float, threads: int) -> None:
        import sherpa_onnx

        _require_metadata(segmentation, SEGMENTATION_METADATA, "segmentation")
        _require_metadata(embedding, EMBEDDING_METADATA, "speaker-embedding")
        self._sherpa = sherpa_onnx
        self._embedding_config = sherpa_onnx.SpeakerEmbeddingExtractorConfig(model=str(embedding), num_threads=threads)
        self._segmentation_config = sherpa_onnx.OfflineSpeakerSegmentationModelConfig(
            pyannote=sherpa_onnx.OfflineSpeakerSegmentationPyannoteModelConfig(model=str(segmentation)),
            num_threads=threads,
        )
        self.threshold = threshold
        config = self._config(-1)
        if not config.validate():
            raise DiarizationFailed(f"sherpa-onnx refused the diarization models {segmentation} and {embedding}")
        self._diarizer = sherpa_onnx.OfflineSpeakerDiarization(config)
        self._extractor = sherpa_onnx.SpeakerEmbeddingExtractor(self._embedding_config)
        self.sample_rate = int(self._diarizer.sample_rate)

    def _config(self, num_clusters: int) -> Any:
        return self._sherpa.OfflineSpeakerDiarizationConfig(
            segmentation=self._segmentation_config,
            embedding=self._embedding_config,
            clustering=self._sherpa.FastClusteringConfig(num_clusters=num_clusters, threshold=self.threshold),
            min_duration_on=0.3,
            min_duration_off=0.5,
        )

    def run(self, samples: Pcm, offset: float, num_clusters: int) -> list[_Speaker]:
        """The block's speakers, with absolute times and embeddings."""
        self._diarizer.set_config(self._config(num_clusters))
        found = self._diarizer.process(samples).sort_by_start_time()
        by_label: dict[int, list[tuple[float, float]]] = {}
        for piece in found:
            by_label.setdefault(int(piece.speaker), []).append((float(piece.start), float(piece.end)))
        speakers = []
        for turns in by_label.values():
            total, seconds = self._voice(samples, turns)
            speakers.append(_Speaker([(a + offset, b + offset) for a, b in turns], total, seconds))
        return speakers

    def _voice(self, samples: Pcm, turns: list[tuple[float, float]]) -> tuple[np.ndarray | None, float]:
        rate = self.sample_rate
        pieces = [samples[int(a * rate) : int(b * rate)] for a, b in turns]
        long_enough = [p for p in pieces if p.size >= MIN_EMBEDDING_SECONDS * rate]
        if not long_enough and pieces:  # only short turns: their speech together
            long_enough = [np.concatenate(pieces)]
        total: np.ndarray | None = None
        seconds = 0.0
        for piece in long_enough:
            vector = self._embed(piece)
            if vector is None:
                continue
            weight = piece.size / rate
            total = vector * weight if total is None else total + vector * weight
            seconds += weight
        return total, seconds

    def _embed(self, piece: Pcm) -> np.ndarray | None:
        stream = self._extractor.create_stream()
        stream.accept_waveform(self.sample_rate, np.ascontiguousarray(piece, dtype=np.float32))
        stream.input_finished()
        if not self._extractor.is_ready(stream):
            return None
        vector = np.asarray(self._extractor.compute(stream), dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 and np.all(np.isfinite(vector)) else None


@lru_cache(maxsize=2)
def _engine(segmentation: Path, embedding: Path, threshold: float, threads: int) -> _Engine:
    return _Engine(segmentation, embedding, threshold, threads)


def _require_metadata(path: Path, keys: Sequence[str], kind: str) -> None:
    """sherpa-onnx ends the process (not an exception) on a model without its metadata: check first."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise DiarizationFailed(f"the {kind} model {path} cannot be loaded: {str(exc).splitlines()[0]}") from None
    present = session.get_modelmeta().custom_metadata_map
    missing = [key for key in keys if not str(present.get(key, "")).strip()]
    if missing:
        raise DiarizationFailed(
            f"the {kind} model {path} lacks the metadata sherpa-onnx needs ({', '.join(missing)}); {PULL_HINT}"
        )


def _blocks(chunks: Iterable[Pcm], block: int) -> Iterator[tuple[int, Pcm, bool]]:
    """(offset in samples, samples, whether this is the only block): blocks of `block` samples, the last one
    between 0.5 and 1.5 blocks long so that a short tail is never diarized on its own."""
    buffered: list[Pcm] = []
    size = offset = 0
    first = True
    for chunk in chunks:
        array = np.asarray(chunk, dtype=np.float32)
        if array.ndim != 1:
            raise DiarizationFailed(f"expected mono audio (one channel), got an array of shape {array.shape}")
        buffered.append(array)
        size += array.size
        while size >= block + block // 2:
            joined = np.concatenate(buffered)
            yield offset, joined[:block], False
            first = False
            buffered, size, offset = [joined[block:]], size - block, offset + block
    if size:
        yield offset, np.concatenate(buffered), first


def _link(speakers: list[_Speaker], local: _Speaker, min_cosine: float) -> None:
    """Add a block's speaker to the closest known speaker when their voices are close enough, else as a new one."""
    centroid = local.centroid()
    best, best_cosine = None, min_cosine
    for known in speakers:
        other = known.centroid()
        if centroid is not None and other is not None and float(centroid @ other) >= best_cosine:
            best, best_cosine = known, float(centroid @ other)
    if best is None:
        speakers.append(local)
    else:
        _absorb(best, local)


def _absorb(into: _Speaker, other: _Speaker) -> None:
    into.turns += other.turns
    if other.total is not None:
        into.total = other.total if into.total is None else into.total + other.total
    into.seconds += other.seconds


def _fit_hints(speakers: list[_Speaker], hints: SpeakerHints) -> None:
    """Merge the two closest speakers until the count fits num_speakers / max_speakers (more cannot be made)."""
    target = hints.num_speakers or hints.max_speakers
    while target is not None and len(speakers) > target:
        best: tuple[float, int, int] | None = None
        for i, a in enumerate(speakers):
            for j in range(i + 1, len(speakers)):
                ca, cb = a.centroid(), speakers[j].centroid()
                cosine = float(ca @ cb) if ca is not None and cb is not None else -2.0
                if best is None or cosine > best[0]:
                    best = (cosine, i, j)
        assert best is not None
        _absorb(speakers[best[1]], speakers.pop(best[2]))


def _result(speakers: list[_Speaker]) -> Diarization:
    ordered = sorted((s for s in speakers if s.turns), key=lambda s: min(t[0] for t in s.turns))
    labels = {id(s): numbered_speaker(i) for i, s in enumerate(ordered)}
    turns = sorted(
        (Turn(a, b, labels[id(s)]) for s in ordered for a, b in s.turns), key=lambda t: (t.start, t.end, t.speaker)
    )
    voices = {}
    for speaker in ordered:
        centroid = speaker.centroid()
        if centroid is not None:
            voices[labels[id(speaker)]] = Voice([float(x) for x in centroid], round(speaker.seconds, 3))
    return Diarization("diarized", _joined(turns), voices)


def _joined(turns: list[Turn], gap: float = 0.5) -> list[Turn]:
    """Consecutive turns of one speaker at most `gap` apart become one (a turn cut by a block boundary)."""
    joined: list[Turn] = []
    for turn in turns:
        if joined and joined[-1].speaker == turn.speaker and turn.start - joined[-1].end <= gap:
            joined[-1] = Turn(joined[-1].start, max(joined[-1].end, turn.end), turn.speaker)
        else:
            joined.append(turn)
    return joined


class _TurnIndex:
    """Which speaker an interval belongs to: most overlap, else the nearest turn."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns = sorted(turns, key=lambda t: (t.start, t.end))
        self.starts = [t.start for t in self.turns]
        self.reach: list[float] = []  # the latest end among turns[0..i]
        for turn in self.turns:
            self.reach.append(max(turn.end, self.reach[-1]) if self.reach else turn.end)

    def speaker(self, start: float, end: float) -> str:
        overlap: dict[str, float] = {}
        j = bisect.bisect_right(self.starts, end) - 1
        while j >= 0 and self.reach[j] >= start:  # earlier turns all end before `start`
            turn = self.turns[j]
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0 or (start == end and turn.start <= start <= turn.end):  # a zero-length word inside
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + max(shared, 1e-9)
            j -= 1
        if overlap:
            return max(sorted(overlap.items()), key=lambda item: item[1])[0]
        nearest = min(self.turns, key=lambda t: max(t.start - end, start - t.end, 0.0))
        return nearest.speaker


def _first_start(run: Sequence[Word]) -> float:
    """Where a run of words starts: its first timed word (every run has one: untimed words join a timed neighbour)."""
    return next(w.start for w in run if w.start is not None)


def _last_end(run: Sequence[Word]) -> float:
    return next(w.end for w in reversed(run) if w.end is not None)


def _join(words: Sequence[Word]) -> str:
    """Whisper's words carry their leading space; WhisperX's do not."""
    if all(w.text[:1].isspace() for w in words[1:]):
        return "".join(w.text for w in words).strip()
    return " ".join(w.text.strip() for w in words)
