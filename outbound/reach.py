"""Whether a server answers at all, found out within seconds: a command that downloads (a speech or embedding model
from the Hugging Face Hub, diarization models from a release page) checks this first, so that on a machine without
network it fails at once with one line instead of after the libraries' own retries (minutes).
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlsplit

REACH_TIMEOUT_SECONDS = 3.0
OFFLINE_VALUES = frozenset({"1", "on", "yes", "true"})


def hub_offline() -> bool:
    """HF_HUB_OFFLINE set: the hub may not be asked at all."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES


def hub_reachable(timeout: float = REACH_TIMEOUT_SECONDS) -> bool:
    """Whether a TCP connection to the hub opens within `timeout` (name lookup included); False when set offline."""
    from huggingface_hub import constants

    return not hub_offline() and reachable(constants.ENDPOINT, timeout)


def reachable(url: str, timeout: float = REACH_TIMEOUT_SECONDS) -> bool:
    """Whether a TCP connection to the URL's host opens within `timeout` (name lookup included)."""
    endpoint = urlsplit(url)
    host, port = endpoint.hostname or "", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    opened = threading.Event()

    def connect() -> None:  # in a thread because getaddrinfo takes no timeout
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            opened.set()
        except OSError:
            pass

    threading.Thread(target=connect, daemon=True, name="opentr-reach-probe").start()
    return opened.wait(timeout)
