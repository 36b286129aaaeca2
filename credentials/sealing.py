"""Per-user encryption of secrets such as LLM api keys.

A secret is sealed with AES-GCM under a key derived by HKDF from the master key and the user's id, with the row's
identity as associated data: a ciphertext copied to another user's row (or another row) does not open. The key
version stored beside it tells which master key sealed it, so `opentr keys rotate` can re-seal everything.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(Exception):
    """The ciphertext does not belong to this user and row, or the master key is not the one that sealed it."""


def _user_key(master_key: bytes, user_id: int) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"opentr.user-secrets.v1", info=f"user:{user_id}".encode())
    return AESGCM(hkdf.derive(master_key))


def seal(master_key: bytes, user_id: int, associated: str, plaintext: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _user_key(master_key, user_id).encrypt(nonce, plaintext.encode(), associated.encode())


def open_sealed(master_key: bytes, user_id: int, associated: str, sealed: bytes) -> str:
    try:
        return _user_key(master_key, user_id).decrypt(sealed[:12], sealed[12:], associated.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("the stored secret cannot be decrypted with this key for this row") from exc


def key_version(master_key: bytes) -> int:
    """A short fingerprint of the master key, stored next to each ciphertext to tell which key sealed it."""
    return int.from_bytes(hashlib.sha256(b"opentr.key-version" + master_key).digest()[:3], "big")
