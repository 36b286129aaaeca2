"""Password hashes: scrypt for ours; bcrypt ones imported from OpenTranscribe are verified, then replaced."""

from __future__ import annotations

import base64
import hmac
import os

import bcrypt
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


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
