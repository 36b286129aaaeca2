"""Second factors: time-based one-time codes (RFC 6238) and one-time recovery codes (tables of migration 0018).

The TOTP secret is sealed like an LLM api key (credentials/sealing.py: AES-GCM under a key derived for this user, the
master key's version beside it), so a copy of the database alone does not let anyone compute codes. Recovery codes
are kept only as SHA-256 hashes: they carry 80 random bits each, which no dictionary reaches, so a slow hash would
only cost time at every use. A code of either kind is used once: a TOTP code's time step must be later than the last
accepted one (a replay within the code's window is refused), a recovery code is marked used, never deleted, so
reusing it is told apart from mistyping it.

Sign-ins read an account's second factor before anybody acts: those methods run as the system; enrolment, new codes
and disabling act for the person (row-level security shows them their own row only).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pyotp

from credentials import sealing
from repo import statements as s
from repo.database import Connection, as_system
from repo.errors import Conflict

PERIOD = 30  # seconds a code stands for (RFC 6238's default, what every authenticator app uses)
DIGITS = 6
RECOVERY_CODES = 10
ISSUER = "OpenTranscribe"
_ASSOCIATED = "two-factor secret"
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper and typed again
_RECOVERY_LENGTH = 16  # 16 of 31 symbols: 79 bits

CodeVerdict = Literal["ok", "wrong", "replayed"]
RecoveryVerdict = Literal["ok", "wrong", "used"]


@dataclass(frozen=True, slots=True)
class State:
    user_id: int
    required: bool
    secret_sealed: bytes | None
    secret_version: int | None
    enabled_at: datetime | None
    last_step: int | None
    recovery_left: int

    @property
    def enabled(self) -> bool:
        return self.enabled_at is not None


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    uri: str  # otpauth://totp/...: what an authenticator app reads from the QR code


@dataclass(frozen=True, slots=True)
class UserId:
    user_id: int


@dataclass(frozen=True, slots=True)
class SealedSecret:
    user_id: int
    secret_sealed: bytes
    secret_version: int


_state = s.one_or_none("two_factor.state", State)
_start = s.execute("two_factor.start")
_use_step = s.rowcount("two_factor.use_step")
_enable = s.rowcount("two_factor.enable")
_disable = s.rowcount("two_factor.disable")
_set_required = s.execute("two_factor.set_required")
_required_user_ids = s.many("two_factor.required_user_ids", UserId)
_all_sealed = s.many("two_factor.all_sealed", SealedSecret)
_reseal = s.rowcount("two_factor.reseal")
_drop_codes = s.rowcount("two_factor.drop_codes")
_add_codes = s.rowcount("two_factor.add_codes")
_use_code = s.rowcount("two_factor.use_code")
_code_was_used = s.scalar("two_factor.code_was_used", bool)


def normal_code(code: str) -> str:
    """A code as typed ("123 456"), without its spaces."""
    return "".join(code.split())


def normal_recovery_code(code: str) -> str:
    """A recovery code as typed: any case, with or without its dashes and spaces."""
    return "".join(ch for ch in code.lower() if ch not in "- \t")


def recovery_hash(code: str) -> bytes:
    return hashlib.sha256(normal_recovery_code(code).encode("utf-8", "surrogatepass")).digest()


def new_recovery_codes() -> list[str]:
    """Ten codes of four groups of four, as shown once to the person."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return codes


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code `code` is: this one, or the one before or after (a clock a little off, a code typed
    as it changed); None when it is none of them."""
    code = normal_code(code)
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = int((time.time() if now is None else now) // PERIOD)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.at(step * PERIOD), code):
            return step
    return None


class TwoFactorRepository:
    def __init__(self, conn: Connection, master_key: bytes) -> None:
        self.conn = conn
        self.master_key = master_key

    # --- reading -------------------------------------------------------------------------------------------------

    def state(self, user_id: int) -> State | None:
        """The account's second factor (None: never set up, never required); as the system, for sign-ins."""
        with as_system(self.conn):
            return _state(self.conn, user_id=user_id)

    def required_user_ids(self) -> set[int]:
        return {row.user_id for row in _required_user_ids(self.conn)}

    def _secret(self, state: State) -> str:
        assert state.secret_sealed is not None
        if state.secret_version != sealing.key_version(self.master_key):
            raise sealing.DecryptionError(
                "the two-factor secret was sealed under another master key; rotate the keys (opentr keys rotate)"
            )
        return sealing.open_sealed(self.master_key, state.user_id, _ASSOCIATED, state.secret_sealed)

    # --- signing in (as the system: nobody acts yet) ------------------------------------------------------------------

    def check_code(self, user_id: int, code: str, *, pending: bool = False) -> CodeVerdict:
        """Whether `code` is the account's current code, used now for the first time (its step is recorded, so the
        same code is `replayed` next time). `pending`: the secret of an enrolment not confirmed yet."""
        with as_system(self.conn):
            state = _state(self.conn, user_id=user_id)
            if state is None or state.secret_sealed is None or state.enabled != (not pending):
                return "wrong"
            step = matching_step(self._secret(state), code)
            if step is None:
                return "wrong"
            return "ok" if _use_step(self.conn, user_id=user_id, step=step) else "replayed"

    def use_recovery_code(self, user_id: int, code: str) -> RecoveryVerdict:
        """A recovery code works once; `used` when it is one of the account's that was used before."""
        digest = recovery_hash(code)
        with as_system(self.conn):
            if _use_code(self.conn, user_id=user_id, code_hash=digest):
                return "ok"
            return "used" if _code_was_used(self.conn, user_id=user_id, code_hash=digest) else "wrong"

    # --- the person's own (acting as them) ---------------------------------------------------------------------------

    def start(self, user_id: int, account_name: str) -> Enrolment:
        """A new secret for an authenticator app; it signs in nobody until `confirm` checks a code made from it.
        Conflict when two factors are already on (disable them first: the old codes would stop working)."""
        current = self.state(user_id)
        if current is not None and current.enabled:
            raise Conflict("two factors are already on for this account; turn them off first to start again", "otp")
        secret = pyotp.random_base32()
        sealed = sealing.seal(self.master_key, user_id, _ASSOCIATED, secret)
        with as_system(self.conn):  # also when signing in to enrol: nobody acts yet
            _start(
                self.conn,
                user_id=user_id,
                secret_sealed=sealed,
                secret_version=sealing.key_version(self.master_key),
            )
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=account_name, issuer_name=ISSUER)
        return Enrolment(secret=secret, uri=uri)

    def pending_enrolment(self, user_id: int, account_name: str) -> Enrolment | None:
        """The secret of an enrolment started and not confirmed yet (a page reloaded shows the same one)."""
        state = self.state(user_id)
        if state is None or state.secret_sealed is None or state.enabled:
            return None
        secret = self._secret(state)
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=account_name, issuer_name=ISSUER)
        return Enrolment(secret=secret, uri=uri)

    def confirm(self, user_id: int, code: str) -> list[str]:
        """Turn two factors on with a code from the new secret; the ten recovery codes, shown this once."""
        verdict = self.check_code(user_id, code, pending=True)
        if verdict != "ok":  # a rule between the stored secret and the code (409), not a malformed value
            raise Conflict(
                "that code does not match the new secret: type the 6-digit code your app shows now "
                "(start again if you scanned another QR code)",
                "otp",
            )
        with as_system(self.conn):
            _enable(self.conn, user_id=user_id)
        return self.new_recovery_codes(user_id)

    def new_recovery_codes(self, user_id: int) -> list[str]:
        """Ten new recovery codes; the old ones stop working."""
        codes = new_recovery_codes()
        with as_system(self.conn):
            _drop_codes(self.conn, user_id=user_id)
            _add_codes(self.conn, user_id=user_id, hashes=[recovery_hash(c) for c in codes])
        return codes

    def disable(self, user_id: int) -> bool:
        with as_system(self.conn):
            _drop_codes(self.conn, user_id=user_id)
            return _disable(self.conn, user_id=user_id) > 0

    # --- administrators ----------------------------------------------------------------------------------------------

    def set_required(self, user_id: int, required: bool) -> None:
        """An administrator requires (or no longer requires) two factors of an account (row-level security lets
        only an administrator write another person's row)."""
        _set_required(self.conn, user_id=user_id, required=required)


def rotate_keys(conn: Connection, old_master: bytes, new_master: bytes) -> int:
    """Re-seal every TOTP secret under `new_master` (`opentr keys rotate`, beside the LLM api keys); how many."""
    new_version = sealing.key_version(new_master)
    user_ids: list[int] = []
    resealed: list[bytes] = []
    with conn.transaction():
        for row in _all_sealed(conn):
            if row.secret_version == new_version:
                continue
            if row.secret_version != sealing.key_version(old_master):
                raise sealing.DecryptionError(
                    f"the two-factor secret of user {row.user_id} was sealed under neither the old nor the new key"
                )
            secret = sealing.open_sealed(old_master, row.user_id, _ASSOCIATED, row.secret_sealed)
            user_ids.append(row.user_id)
            resealed.append(sealing.seal(new_master, row.user_id, _ASSOCIATED, secret))
        if not user_ids:
            return 0
        return _reseal(conn, user_ids=user_ids, sealed=resealed, secret_version=new_version)
