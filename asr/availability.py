"""Can this machine turn speech into text, and what models does it hold? Answered from disk and settings alone.

Speech models cannot always be downloaded (a closed network, no route to the model hub), and a recording uploaded
then fails an hour later in a worker. So the answer is given before anyone uploads: `opentr dev` prints it at
start, the upload page shows it, `GET /api/health` reports it, `opentr models list` lists what is present, and a
`opentr models pull` that cannot download ends with the same ways on (`WAYS_ON`, written here once).

Nothing here touches the network: a model that is not on disk counts as absent, even if a worker could still
download it on first use (asr/models.py `resolve`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from asr import ENGINE_NAMES, models
from asr.errors import TranscriptionError

if TYPE_CHECKING:
    from config.settings import Settings

WAYS_ON = (
    "copy a CTranslate2 Whisper model folder (such as faster-whisper-small: config.json, model.bin, tokenizer.json, "
    "vocabulary.*) onto this machine and set OPENTR_ASR_MODEL to that folder",
    "use an OpenAI-compatible transcription server: set OPENTR_ASR_ENGINE=openai and OPENTR_ASR_REMOTE_URL "
    "(and OPENTR_ASR_REMOTE_KEY if it needs one)",
    "upload each recording with its transcript file (WhisperX JSON, SRT or WebVTT), or attach one to a file "
    "on its page",
)


@dataclass(frozen=True)
class SpeechStatus:
    ready: bool
    engine: str
    detail: str  # one sentence: which model transcribes, or why nothing can

    @property
    def ways_on(self) -> tuple[str, ...]:
        return () if self.ready else WAYS_ON


@dataclass(frozen=True)
class PresentModel:
    name: str  # a hub id (Systran/faster-whisper-small), or the configured folder
    path: Path


@dataclass(frozen=True)
class DiarizationModel:
    role: str  # segmentation or embedding
    path: Path
    present: bool


def speech_status(settings: Settings) -> SpeechStatus:
    """Whether the configured engine can transcribe with what is on this machine (and in the settings)."""
    engine = (settings.opentr_asr_engine or "").strip().lower()
    if engine == "openai":
        if not settings.opentr_asr_remote_url:
            return SpeechStatus(False, engine, "OPENTR_ASR_ENGINE=openai, but OPENTR_ASR_REMOTE_URL is not set")
        where = f"{settings.opentr_asr_remote_url} (model {settings.opentr_asr_remote_model})"
        return SpeechStatus(True, engine, f"speech is transcribed by the server at {where}")
    if engine != "faster-whisper":
        expected = ", ".join(ENGINE_NAMES)
        return SpeechStatus(False, engine, f"OPENTR_ASR_ENGINE={engine!r} is not a speech engine (one of {expected})")
    name = settings.opentr_asr_model
    try:
        folder = models.local_directory(name) or models.cached(name, settings.asr_models_dir)
    except TranscriptionError as exc:  # a folder without model.bin, an unknown size name
        return SpeechStatus(False, engine, str(exc))
    if folder is None:
        return SpeechStatus(
            False,
            engine,
            f"no speech model is on this machine: {name!r} has not been downloaded into {settings.asr_models_dir} "
            f"(`opentr models pull {name}` fetches it; a worker downloads it on first use only if it can reach the "
            "model hub)",
        )
    return SpeechStatus(True, engine, f"speech model {name} ({folder})")


def speech_models(settings: Settings) -> list[PresentModel]:
    """The faster-whisper models on disk: the configured folder, and every download in the models directory."""
    found: list[PresentModel] = []
    try:
        configured = models.local_directory(settings.opentr_asr_model)
    except TranscriptionError:
        configured = None
    if configured is not None:
        found.append(PresentModel(settings.opentr_asr_model, configured))
    root = settings.asr_models_dir
    for repo in sorted(root.glob("models--*")) if root.is_dir() else ():
        snapshots = sorted(repo.glob("snapshots/*/model.bin"), key=lambda p: p.stat().st_mtime)
        if snapshots:
            found.append(PresentModel(repo.name.removeprefix("models--").replace("--", "/"), snapshots[-1].parent))
    return found


def model_choices(settings: Settings) -> list[str]:
    """The speech models a user may choose for a file: those on disk for faster-whisper, the configured model of an
    OpenAI-compatible server (which model it serves is its own business). Nothing downloads on a user's choice."""
    engine = (settings.opentr_asr_engine or "").strip().lower()
    if engine == "openai":
        return [settings.opentr_asr_remote_model]
    return list(dict.fromkeys(model.name for model in speech_models(settings)))


def diarization_models(settings: Settings) -> list[DiarizationModel]:
    return [
        DiarizationModel(role, path, path.is_file())
        for role, path in (
            ("segmentation", settings.diarization_segmentation_model),
            ("embedding", settings.diarization_embedding_model),
        )
    ]


def ways_on_text(indent: str = "  ") -> str:
    """The ways on, as lines for a terminal."""
    return "\n".join(f"{indent}- {way}" for way in WAYS_ON)


def summary(settings: Settings) -> str:
    """What `opentr dev` prints at start: one line when transcription can run, else why not and the ways on."""
    status = speech_status(settings)
    if status.ready:
        return f"transcription: {status.detail}"
    return (
        f"transcription cannot run yet: {status.detail}.\n"
        f"Recordings uploaded without a transcript file will fail until one of these is done:\n{ways_on_text()}"
    )


def listing(settings: Settings) -> str:
    """`opentr models list`: the engine and whether it can run, the speech models on disk, the diarization models."""
    status = speech_status(settings)
    lines = [
        f"speech engine: {status.engine} (OPENTR_ASR_ENGINE)",
        f"  {'ready' if status.ready else 'not ready'}: {status.detail}",
        f"speech models on this machine (OPENTR_ASR_MODEL={settings.opentr_asr_model}, "
        f"models directory {settings.asr_models_dir}):",
    ]
    present = speech_models(settings)
    lines += [f"  {model.name}  {model.path}" for model in present] or ["  none"]
    off = " (OPENTR_DIARIZATION=off: not used)" if settings.opentr_diarization == "off" else ""
    lines.append(f"diarization models{off}:")
    for model in diarization_models(settings):
        lines.append(f"  {model.role}  {model.path}  {'present' if model.present else 'missing'}")
    if not all(model.present for model in diarization_models(settings)):
        lines.append("  without them every file gets one speaker; get them with: opentr models pull diarization")
    if not status.ready:
        lines += ["Transcription can run once one of these is done:", ways_on_text()]
    return "\n".join(lines)
