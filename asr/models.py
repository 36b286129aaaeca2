"""Where faster-whisper models live: find one on disk, tell whether it can be fetched, download one on request.

Models are cached under OPENTR_ASR_MODELS_DIR in the Hugging Face Hub layout faster-whisper itself uses, so a model
fetched by `opentr models pull NAME` is the one a worker finds. A worker never waits on a dead network: it looks on
disk first (`local_files_only`), then spends at most `REACH_TIMEOUT_SECONDS` finding out whether the hub answers at
all before it downloads, and otherwise fails with `ModelMissing` naming the command that fixes it.

`opentr models pull diarization` fetches the two speaker-diarization models (asr/diarization.py) from sherpa-onnx's
releases (`OPENTR_DIARIZATION_MODELS_URL` names a mirror) into `<models dir>/diarization/`, where the default
`OPENTR_DIARIZATION_*_MODEL` settings look: the pyannote-3.0 segmentation model and a WeSpeaker ResNet34 embedding
model (256-d). A worker never downloads these by itself: without them files get one speaker, and say why.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from asr.errors import ModelMissing, TranscriptionError
from outbound.reach import hub_reachable, reachable

DIARIZATION = "diarization"
DIARIZATION_MODELS_URL = "https://github.com/k2-fsa/sherpa-onnx/releases/download"
# (file in <models dir>/diarization, path under the releases URL, member to extract when it is an archive);
# "recongition" is the release tag's own spelling.
DIARIZATION_FILES = (
    (
        "segmentation.onnx",
        "speaker-segmentation-models/sherpa-onnx-pyannote-segmentation-3-0.tar.bz2",
        "sherpa-onnx-pyannote-segmentation-3-0/model.onnx",
    ),
    ("embedding.onnx", "speaker-recongition-models/wespeaker_en_voxceleb_resnet34_LM.onnx", None),
)
DOWNLOAD_TIMEOUT_SECONDS = 600.0
MODEL_FILES = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*"]

log = logging.getLogger("opentr.asr.models")


class PullFailed(RuntimeError):
    """`opentr models pull` could not download the model; the message is one line for the terminal."""


class DownloadFailed(PullFailed):
    """The model hub could not be reached or refused the download: the ways on without it apply
    (asr/availability.py)."""


def hub_repo(name: str) -> str:
    """The Hugging Face repository of a size name (`small` -> `Systran/faster-whisper-small`) or of an `org/name` id."""
    from faster_whisper.utils import _MODELS, available_models  # the size names are only in this private table

    if "/" in name:
        return name
    repo = _MODELS.get(name)
    if repo is None:
        raise TranscriptionError(
            f"unknown speech model {name!r}: expected a size name ({', '.join(available_models())}), "
            "a Hugging Face model id (org/name) or a directory holding a CTranslate2 model"
        )
    return str(repo)


def local_directory(name: str) -> Path | None:
    """`name` as a model directory on disk, None when it is a model name; a path that holds no model is an error."""
    path = Path(name).expanduser()
    if not (path.is_dir() or name.startswith(("/", ".", "~"))):
        return None
    if not (path / "model.bin").is_file():
        raise TranscriptionError(f"speech model directory {str(path)!r} holds no CTranslate2 model (no model.bin)")
    return path


def cached(name: str, models_dir: Path) -> Path | None:
    """The downloaded model in the cache, None when it has not been downloaded; never touches the network."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        found = snapshot_download(
            hub_repo(name), cache_dir=str(models_dir), allow_patterns=MODEL_FILES, local_files_only=True
        )
    except LocalEntryNotFoundError:
        return None
    return Path(found)


def resolve(name: str, models_dir: Path) -> Path:
    """The directory of the model to load: a local directory, the cached download, or a fresh download."""
    local = local_directory(name)
    if local is not None:
        return local
    found = cached(name, models_dir)
    if found is not None:
        return found
    from huggingface_hub import constants

    if not hub_reachable():
        raise ModelMissing(name, f"not downloaded yet, and {constants.ENDPOINT} cannot be reached")
    log.info("downloading speech model %s into %s", name, models_dir)
    try:
        return _download(name, models_dir, progress=False)
    except Exception as exc:  # the hub raises many kinds (HTTP, OS, its own); each means the same to the user
        raise ModelMissing(name, f"download failed: {_one_line(exc)}") from None


def pull(name: str, models_dir: Path) -> Path:
    """Download `name` into the models dir with a progress bar on the terminal; the directory it ends up in."""
    from huggingface_hub import constants

    if name == DIARIZATION:
        return pull_diarization(models_dir)
    try:
        if local_directory(name) is not None:
            raise PullFailed(f"{name} is a local model directory; there is nothing to download")
        repo = hub_repo(name)
    except TranscriptionError as exc:
        raise PullFailed(str(exc)) from None
    if not hub_reachable():
        raise DownloadFailed(f"cannot download model {name!r} ({repo}): {constants.ENDPOINT} cannot be reached")
    try:
        return _download(name, models_dir, progress=True)
    except Exception as exc:  # as in resolve(): any failure of the hub is one line for the operator
        raise DownloadFailed(f"cannot download model {name!r} ({repo}): {_one_line(exc)}") from None


def _download(name: str, models_dir: Path, *, progress: bool) -> Path:
    from faster_whisper.utils import download_model
    from huggingface_hub import snapshot_download

    models_dir.mkdir(parents=True, exist_ok=True)
    if not progress:  # faster-whisper's own download: the same files and cache layout, without progress bars
        return Path(download_model(name, cache_dir=str(models_dir)))
    return Path(snapshot_download(hub_repo(name), cache_dir=str(models_dir), allow_patterns=MODEL_FILES))


def _one_line(exc: BaseException) -> str:
    """The root cause's first line: the hub wraps an HTTP error in paragraphs of advice about the local cache."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def pull_diarization(models_dir: Path) -> Path:
    """Download the segmentation and embedding models into `models_dir/diarization` (each file replaced only once
    it arrived whole); the directory. PullFailed is one line naming the URL and the reason."""
    base = os.environ.get("OPENTR_DIARIZATION_MODELS_URL", "").strip().rstrip("/") or DIARIZATION_MODELS_URL
    if not reachable(base):
        raise PullFailed(f"cannot download the diarization models: {base} cannot be reached")
    target = models_dir / DIARIZATION
    target.mkdir(parents=True, exist_ok=True)
    for filename, remote, member in DIARIZATION_FILES:
        url = f"{base}/{remote}"
        try:
            _fetch(url, target / filename, member)
        except PullFailed:
            raise
        except Exception as exc:  # HTTP, network, archive: each is one line for the operator
            raise PullFailed(f"cannot download {url}: {_one_line(exc)}") from None
    return target


def _fetch(url: str, destination: Path, member: str | None) -> None:
    import httpx

    with tempfile.TemporaryDirectory(dir=destination.parent) as scratch:
        downloaded = Path(scratch) / "download"
        with httpx.stream("GET", url, follow_redirects=True, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            response.raise_for_status()
            with downloaded.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
        if member is not None:
            unpacked = Path(scratch) / "unpacked"
            with tarfile.open(downloaded) as archive:
                try:
                    source = archive.extractfile(member)
                except KeyError:
                    source = None
                if source is None:
                    raise PullFailed(f"cannot download {url}: the archive holds no {member}")
                with source, unpacked.open("wb") as out:
                    shutil.copyfileobj(source, out)
            downloaded = unpacked
        os.replace(downloaded, destination)
