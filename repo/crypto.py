"""Password hashes (scrypt; bcrypt ones imported from OpenTranscribe are verified, then replaced), opaque bearer
tokens (stored as sha256), and per-user encryption of secrets.

Secrets such as LLM api keys are sealed with AES-GCM under a key derived by HKDF from the master key and the
user's id, with the row's identity as associated data: a ciphertext copied to another user's row (or another
row) does not open. The key version lets `rotate` re-seal everything under a new master key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

import bcrypt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
TOKEN_BYTES = 32


class DecryptionError(Exception):
    """The ciphertext does not belong to this user and row, or the master key is not the one that sealed it."""


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(password.encode())
    encode = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith(BCRYPT_PREFIXES):
        return _verify_bcrypt(password, stored)
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        kdf = Scrypt(salt=base64.b64decode(salt), length=32, n=int(n), r=int(r), p=int(p))
        expected = kdf.derive(password.encode())
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, base64.b64decode(digest))


def needs_rehash(stored: str) -> bool:
    """A hash brought over from another platform (bcrypt): replaced by ours at the user's next sign-in."""
    return not stored.startswith("scrypt$")


def _verify_bcrypt(password: str, stored: str) -> bool:
    # OpenTranscribe hashed with passlib's bcrypt, which used only the first 72 bytes of a password; bcrypt>=5
    # refuses longer ones instead, so cut them the same way for the old hashes to keep matching.
    try:
        return bcrypt.checkpw(password.encode()[:72], stored.encode())
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


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
