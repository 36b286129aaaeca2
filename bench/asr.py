"""Measure 6: the media side of transcription — decode + resample throughput, and memory on a 3-hour file.

The recording is an mp3 the bench encodes itself (44.1 kHz stereo, 128 kbit/s CBR, a tone under noise): one
`PIECE_SECONDS` piece is encoded with PyAV and repeated frame-for-frame (no Xing header, so the copies join into one
valid stream) to make the 1-hour and 3-hour files in seconds rather than minutes of encoding.

- throughput: `media.decode.pcm_chunks` (16 kHz mono float32, 30 s chunks) and `media.waveform.peaks`, in audio
  seconds per wall second, on the 1-hour file;
- memory: peak RSS of a fresh process that decodes the whole file through `pcm_chunks`, for the 1-hour and the
  3-hour file, beside one that only imports and opens it. Streaming means the 3-hour peak equals the 1-hour one;
  holding the decoded audio would add 16,000 samples of 4 bytes per second (230 MB per hour).
- pipeline overhead around the model: decoding, windowing and turning segments into rows with a stand-in model that
  answers instantly, so the figure is what the platform adds to the model's own time.
- batched vs sequential: the real faster-whisper engine (asr/whisper.py) on the tiny random-weight model the tests
  build (tests/tiny_whisper.py), on the CPU, over speech-like audio with pauses, through each path in turn.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from asr.types import SAMPLE_RATE
from bench import Context, Measure, Options
from media.decode import pcm_chunks
from media.probe import probe
from media.waveform import peaks

RATE = 44100
PIECE_SECONDS = 600
SMOKE_PIECE_SECONDS = 10
BATCHED_SECONDS, BATCHED_SMOKE_SECONDS, BATCHED_REPEATS = 300, 30, 5
BATCHED_BEAMS = (5, 1)  # the engine's default, and greedy
FLAT_MB = 16.0  # the 3-hour peak may exceed the 1-hour one by at most this much
# ru_maxrss alone would hide the decoding: importing av and numpy peaks higher than the steady decoder. So the child
# also samples its current RSS (/proc/self/statm) after opening and after every chunk.
_CHILD = """
import json, resource, sys, time
from pathlib import Path
from media.decode import pcm_chunks
from media.source import open_media
def rss_kb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024
path, decode = Path(sys.argv[1]), sys.argv[2] == "decode"
with open_media(path):
    pass
before = peak = rss_kb()
started, samples = time.perf_counter(), 0
if decode:
    for chunk in pcm_chunks(path):
        samples += len(chunk)
        peak = max(peak, rss_kb())
print(json.dumps({"max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "before_kb": before,
                  "peak_kb": peak, "samples": samples, "seconds": time.perf_counter() - started}))
"""


def run(ctx: Context) -> Measure:
    measure = Measure("asr", "7. asr: decoding for the engine (PyAV, 16 kHz mono), its memory, batched vs sequential")
    options = ctx.options
    piece_seconds = SMOKE_PIECE_SECONDS if options.smoke else PIECE_SECONDS
    hour = 3600 // (360 if options.smoke else 1)  # the smoke run's "hour" is 10 s
    with tempfile.TemporaryDirectory(prefix="opentr-bench-asr-") as directory:
        began = time.perf_counter()
        piece = _piece(Path(directory) / "piece.mp3", piece_seconds)
        one = _repeat(piece, Path(directory) / "1h.mp3", hour // piece_seconds)
        three = _repeat(piece, Path(directory) / "3h.mp3", 3 * hour // piece_seconds)
        measure.extra["generation_seconds"] = round(time.perf_counter() - began, 1)
        _throughput(measure, one)
        _memory(measure, one, three)
        pipeline_overhead(measure, options, one)
        batched_vs_sequential(measure, options, Path(directory))
    return measure


def _throughput(measure: Measure, path: Path) -> None:
    started = time.perf_counter()
    info = probe(path)
    probe_seconds = time.perf_counter() - started
    audio = info.duration or 0.0
    started = time.perf_counter()
    samples = sum(len(chunk) for chunk in pcm_chunks(path))
    decode_seconds = time.perf_counter() - started
    started = time.perf_counter()
    peaks(path)
    waveform_seconds = time.perf_counter() - started
    label = f"{audio:,.0f} s of mp3 (44.1 kHz stereo, 128 kbit/s)"
    steps = (("decode + resample to 16 kHz mono (pcm_chunks)", decode_seconds), ("waveform peaks", waveform_seconds))
    for step, seconds in steps:
        measure.rows.append(_row(step, label, seconds, audio_s_per_wall_s=round(audio / seconds)))
    measure.extra |= {"probe_ms": round(probe_seconds * 1000, 1), "decoded_samples": samples, "audio_seconds": audio}
    measure.notes.append(f"probe (headers + first frame): {probe_seconds * 1000:.1f} ms")


def _memory(measure: Measure, one: Path, three: Path) -> None:
    baseline = _child(one, decode=False)
    hour = _child(one, decode=True)
    hours = _child(three, decode=True)
    runs = (("imports + open, no decoding", baseline), (f"decode {one.stem}", hour), (f"decode {three.stem}", hours))
    for what, report in runs:
        decoded = f"{report['samples'] / 16000:,.0f} s decoded"
        measure.rows.append(
            _row(
                f"RSS: {what}",
                decoded,
                report["seconds"],
                rss_mb=report["peak_kb"] / 1024,
                growth_mb=(report["peak_kb"] - report["before_kb"]) / 1024,
                max_rss_mb=report["max_rss_kb"] / 1024,
            )
        )
    growth = (hours["peak_kb"] - hour["peak_kb"]) / 1024
    measure.extra |= {"rss_3h_minus_1h_mb": round(growth, 1), "children": [baseline, hour, hours]}
    held = hours["samples"] * 4 / 1024 / 1024
    measure.target("asr: RSS decoding 3 h vs 1 h", f"<= +{FLAT_MB:.0f} MB", round(growth, 1), growth <= FLAT_MB, "MB")
    measure.notes.append(f"holding the 3-hour file's decoded audio in one array would take {held:,.0f} MB")


def _row(step: str, audio: str, seconds: float, **figures: float) -> dict[str, object]:
    """One table row; every row has the same columns (rss_mb: the highest RSS sampled while decoding; growth_mb:
    that minus the RSS once the file was opened; max_rss_mb: the process's lifetime peak, imports included)."""
    columns = ("audio_s_per_wall_s", "rss_mb", "growth_mb", "max_rss_mb")
    values = {name: round(figures[name], 1) if name in figures else None for name in columns}
    return {"step": step, "audio": audio, "wall_s": round(seconds, 2), **values}


def pipeline_overhead(measure: Measure, options: Options, audio: Path) -> None:
    """Everything the worker does around `model.transcribe`, per audio hour: decoding (above), cutting the stream
    into the engine's windows and placing the engine's segments in them (asr.windows), labelling them as the worker
    does (workers.transcription), checking them and encoding their words for staging. A stand-in model answers
    instantly with one 12-word segment per 5 s, so the wall time is the platform's alone. Staging those rows costs
    what `measure 4` (COPY ingest) says per segment."""
    from dataclasses import replace

    from asr.windows import WindowWord, place, windows
    from repo.segments import check
    from transcript.speakers import DEFAULT_SPEAKER

    started = time.perf_counter()
    rows = []
    for window in windows(pcm_chunks(audio), 300.0):
        for at in np.arange(0.0, window.seconds, 5.0):
            begin = float(at)
            words = [WindowWord(begin + i * 0.4, begin + i * 0.4 + 0.3, f" w{i}", 0.9) for i in range(12)]
            segment = place(window, begin, begin + 4.8, "".join(w.text for w in words), words, 0.0)
            rows.append(replace(segment, speaker_label=DEFAULT_SPEAKER))
    check(rows)
    seconds = time.perf_counter() - started
    audio_seconds = float(measure.extra.get("audio_seconds") or 0.0)
    label = f"{audio_seconds:,.0f} s, {len(rows):,} segments"
    rate = audio_seconds / seconds if seconds else 0.0
    measure.rows.append(
        _row("pipeline around the model (decode, windows, rows)", label, seconds, audio_s_per_wall_s=rate)
    )
    measure.extra["pipeline_segments"] = len(rows)
    measure.notes.append(
        f"pipeline around the model: {seconds:.2f} s per {audio_seconds / 3600:.2f} h of audio "
        f"({rate:,.0f}x realtime), i.e. what the platform adds to the model's own time; staging "
        f"{len(rows):,} segments adds their COPY (measure 4)"
    )


def batched_vs_sequential(measure: Measure, options: Options, directory: Path) -> None:
    """The engine's two paths on the same audio and decoding options (VAD on, one temperature: the batched pipeline
    has no temperature fallback, so the sequential path gets none either), at beam 5 (the default) and beam 1,
    alternated, median of a few runs. The model is random, 64 wide and one layer deep, so per-call overhead weighs
    more than in a real model, and what it says (so how many tokens each path decodes) differs between the paths:
    the ratio is this machine's figure for this model, not a promise for `small` on a GPU."""
    from asr.whisper import WhisperConfig, WhisperEngine
    from tests.synthetic_voice import silence, voice
    from tests.tiny_whisper import build_tiny_whisper

    seconds = BATCHED_SMOKE_SECONDS if options.smoke else BATCHED_SECONDS
    repeats = 1 if options.smoke else BATCHED_REPEATS
    pieces = [part for i in range(int(seconds // 15)) for part in (voice(12.0, i), silence(3.0, i))]
    audio = np.concatenate(pieces)
    audio_seconds = audio.size / SAMPLE_RATE
    model = build_tiny_whisper(directory / "tiny-whisper", seed=6)  # a seed that writes text in both modes
    base = WhisperConfig(model=str(model), device="cpu", temperatures=(0.0,), vad=True)
    ratios: dict[str, float] = {}
    walls: dict[str, list[float]] = {}
    for beam in BATCHED_BEAMS:
        engines = {
            f"beam {beam}, sequential": WhisperEngine(replace(base, beam_size=beam, batched="off")),
            f"beam {beam}, batched ({base.batch_size} chunks at a time)": WhisperEngine(
                replace(base, beam_size=beam, batched="on")
            ),
        }
        segments: dict[str, int] = {}
        for name in engines:
            walls[name] = []
        for _ in range(repeats + 1):  # the first round warms up (model load, VAD model, allocator)
            for name, engine in engines.items():
                started = time.perf_counter()
                run = engine.transcribe(
                    iter([audio]),
                    total_seconds=audio_seconds,
                    language=None,
                    on_progress=lambda _: None,
                    should_stop=lambda: False,
                )
                segments[name] = sum(1 for _ in run.segments)
                walls[name].append(time.perf_counter() - started)
        rates = []
        for name in engines:
            wall = statistics.median(walls[name][1:])
            rates.append(audio_seconds / wall)
            label = f"{audio_seconds:,.0f} s speech-like, {segments[name]} segment{'' if segments[name] == 1 else 's'}"
            measure.rows.append(_row(f"tiny model, CPU: {name}", label, wall, audio_s_per_wall_s=rates[-1]))
        sequential, batched = rates
        ratios[f"beam {beam}"] = round(batched / sequential, 2)
        measure.notes.append(
            f"beam {beam}: batched vs sequential on the tiny model, CPU: {batched:,.0f}x vs {sequential:,.0f}x "
            f"realtime, ratio {batched / sequential:.2f} (median of {repeats} run{'s' if repeats > 1 else ''} each)"
        )
    measure.extra |= {"batched_vs_sequential": ratios, "batched_walls": walls}


def _child(path: Path, *, decode: bool) -> dict[str, int | float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), "decode" if decode else "open"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    report: dict[str, int | float] = json.loads(done.stdout)
    return report


def _piece(path: Path, seconds: int) -> Path:
    """`seconds` of a 220 Hz tone under noise, CBR mp3 without Xing/ID3 headers so that copies concatenate."""
    with av.open(str(path), "w", format="mp3", options={"write_xing": "0", "id3v2_version": "0"}) as out:
        stream = out.add_stream("libmp3lame", rate=RATE, layout="stereo")
        assert isinstance(stream, av.AudioStream)
        stream.bit_rate = 128_000
        rng = np.random.default_rng(6)
        tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32)
        for second in range(seconds):
            mono = tone + 0.05 * rng.standard_normal(RATE).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.tile(mono, (2, 1)), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = RATE, second * RATE
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _repeat(piece: Path, target: Path, times: int) -> Path:
    data = piece.read_bytes()
    with target.open("wb") as out:
        for _ in range(max(1, times)):
            out.write(data)
    return target
