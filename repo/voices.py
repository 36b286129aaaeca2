"""Voice embeddings in PostgreSQL: storing a file's speakers' embeddings, matching them against the owner's profiles
and other speakers, and profiles that learn from their verified speakers.

Embeddings are `real[]` at unit length (so the cosine is a dot product, `voice_similarity()` in the schema) with a
256-bit SimHash signature: bit i is the sign of the embedding's projection on the i-th of 256 fixed random
hyperplanes (seeded by the dimension, so every process computes the same ones). For two unit vectors at angle θ
each bit differs with probability θ/π, so the Hamming distance estimates the angle: matching keeps the pairs whose
distance is within `SCREEN_SIGMAS` standard deviations of the suggest threshold's, then compares them exactly. With
4 standard deviations a pair above the threshold is screened out with probability < 4·10⁻⁵, and an unrelated pair
(θ≈90°) gets through with probability ~2·10⁻⁴, so the exact comparison sees a handful of rows, not the user's
20,000 speakers.

`real[]` rather than pgvector: the schema must build identically on servers without the extension (README).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from repo import statements as s
from repo.database import Connection
from repo.errors import Invalid
from transcript.speakers import Voice

SIGNATURE_BITS = 256
SCREEN_SIGMAS = 4.0
MAX_DIMENSION = 4096
Vector = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ProfileSuggestion:
    speaker_id: int
    profile_id: int
    similarity: float
    status: str


@dataclass(frozen=True, slots=True)
class AutoAssignment:
    speaker_id: int
    profile_id: int
    similarity: float


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    suggestions: list[ProfileSuggestion]
    assigned: list[AutoAssignment]
    speaker_matches: int


@dataclass(frozen=True, slots=True)
class ProfileRef:
    profile_id: int | None


@dataclass(frozen=True, slots=True)
class ProfileVoice:
    profile_id: int
    embedding: list[float]
    weight: float


@dataclass(frozen=True, slots=True)
class VerifiedEmbedding:
    profile_id: int
    embedding: list[float]
    seconds: float


_set_speaker_embedding = s.rowcount("voices.set_speaker_embedding")
_clear_file_matches = s.execute("voices.clear_file_matches")
_match_profiles = s.many("voices.match_profiles", ProfileSuggestion)
_auto_assign = s.many("voices.auto_assign", AutoAssignment)
_match_speakers = s.rowcount("voices.match_speakers")
_profile_of = s.one_or_none("voices.profile_of", ProfileRef)
_verified_embeddings = s.many("voices.verified_embeddings", VerifiedEmbedding)
_set_profile_embedding = s.execute("voices.set_profile_embedding")
_profile_voices = s.many("voices.profile_voices", ProfileVoice)


def unit(embedding: Sequence[float] | Vector, field: str = "embedding") -> Vector:
    """The embedding scaled to length 1; Invalid naming `field` when it is empty, too long, not finite or zero."""
    vector = np.asarray(embedding, dtype=np.float64)
    if vector.ndim != 1 or not 1 <= vector.size <= MAX_DIMENSION:
        raise Invalid(f"{field}: expected a list of 1 to {MAX_DIMENSION} numbers", field)
    if not np.all(np.isfinite(vector)):
        raise Invalid(f"{field}: every value must be a finite number", field)
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        raise Invalid(f"{field}: an all-zero embedding has no direction", field)
    result: Vector = vector / norm
    return result


@lru_cache(maxsize=8)
def _hyperplanes(dimension: int) -> Vector:
    planes: Vector = np.random.default_rng(dimension).standard_normal((SIGNATURE_BITS, dimension))
    return planes


def signature(vector: Vector) -> str:
    """The SimHash signature as PostgreSQL bit-string text ('0110…', SIGNATURE_BITS characters)."""
    bits = _hyperplanes(vector.size) @ vector >= 0
    return "".join("1" if bit else "0" for bit in bits)


def screen_bits(threshold: float) -> int:
    """The largest Hamming distance a pair at cosine `threshold` plausibly shows (its mean + SCREEN_SIGMAS sd)."""
    p = math.acos(max(-1.0, min(1.0, threshold))) / math.pi
    mean = SIGNATURE_BITS * p
    sigma = math.sqrt(SIGNATURE_BITS * max(p * (1 - p), 1.0 / SIGNATURE_BITS))
    return min(SIGNATURE_BITS, math.ceil(mean + SCREEN_SIGMAS * sigma))


def _as_db(vector: Vector) -> list[float]:
    return [float(x) for x in vector]


class VoiceRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def store_embeddings(self, file_id: int, voices: Mapping[str, Voice]) -> int:
        """Workers: set the embedding of the file's speaker with each label; labels the file lacks are skipped.
        Returns how many speakers got one."""
        stored = 0
        for label, voice in voices.items():
            vector = unit(voice.embedding, f"speaker_embeddings.{label}")
            seconds = None if voice.seconds is None else max(0.0, float(voice.seconds))
            stored += _set_speaker_embedding(
                self.conn,
                file_id=file_id,
                label=label,
                embedding=_as_db(vector),
                signature=signature(vector),
                seconds=seconds,
            )
        return stored

    def match_file(self, file_id: int, user_id: int, *, auto_assign: float, suggest: float) -> MatchOutcome:
        """Match the file's speakers against `user_id`'s profiles (and those shared with them) and speakers in
        their other files, afresh.

        Pairs at or above `suggest` become profile suggestions / speaker_matches rows; a speaker whose best profile
        of the user's own reaches `auto_assign` is linked to it (assigned_by 'auto'), unless the user already decided
        about it. A profile shared with the user is only suggested: linking to another's profile is the user's call.
        """
        params = {"file_id": file_id, "user_id": user_id, "suggest": suggest, "max_bits": screen_bits(suggest)}
        with self.conn.transaction():
            _clear_file_matches(self.conn, file_id=file_id)
            # the owner acts: their profiles and those shared with them (never an all-files view)
            suggestions = _match_profiles(self.conn, **params, actor_id=user_id, actor_sees_all=False)
            assigned = _auto_assign(self.conn, file_id=file_id, auto_assign=auto_assign)
            pairs = _match_speakers(self.conn, **params)
        return MatchOutcome(suggestions, assigned, pairs)

    def profile_of(self, speaker_uuid: object) -> int | None:
        """The profile a speaker teaches: the one it is linked to when its owner owns it; None when it has none, is
        linked to a profile shared with its owner (which it never teaches), or does not exist (internal: no actor)."""
        found = _profile_of(self.conn, speaker_uuid=speaker_uuid)
        return None if found is None else found.profile_id

    def relearn(self, profile_ids: Collection[int | None]) -> list[int]:
        """Each profile's embedding becomes the mean of its owner's verified speakers' embeddings (a speaker of
        someone it is shared with never teaches it), weighted by their seconds
        of speech (1 when unknown), at unit length; a profile without one loses its embedding (returned: the ids of
        those). Runs in the caller's transaction, so a verification and what the profile learns from it commit
        together."""
        wanted = sorted({p for p in profile_ids if p is not None})
        if not wanted:
            return []
        without: list[int] = []
        sums: dict[int, tuple[Vector, float]] = {}
        for row in _verified_embeddings(self.conn, profile_ids=wanted):
            weight = row.seconds if row.seconds > 0 else 1.0
            vector = np.asarray(row.embedding, dtype=np.float64) * weight
            previous = sums.get(row.profile_id)
            if previous is None:
                sums[row.profile_id] = (vector, weight)
            elif previous[0].size == vector.size:  # another model's embedding cannot be averaged in
                sums[row.profile_id] = (previous[0] + vector, previous[1] + weight)
        for profile_id in wanted:
            total = sums.get(profile_id)
            if total is None or not np.any(total[0]):
                _set_profile_embedding(self.conn, profile_id=profile_id, embedding=None, signature=None, weight=0.0)
                without.append(profile_id)
                continue
            mean = unit(total[0])
            _set_profile_embedding(
                self.conn, profile_id=profile_id, embedding=_as_db(mean), signature=signature(mean), weight=total[1]
            )
        return without

    def profile_voices(self, profile_ids: Collection[int]) -> list[ProfileVoice]:
        """The voices the profiles have now (none for a profile without one)."""
        return _profile_voices(self.conn, profile_ids=sorted(profile_ids))

    def combine(self, profile_id: int, voices: Sequence[ProfileVoice]) -> None:
        """Give the profile the mean of `voices` weighted by what each was learnt from: after a merge, when no
        verified speaker is left to learn from (a profile imported with its voice only), the voices are not lost.
        Voices of another model's dimension than the first are left out, as in relearn."""
        if not voices:
            return
        size = len(voices[0].embedding)
        kept = [v for v in voices if len(v.embedding) == size]
        total: Vector = np.zeros(size)
        for v in kept:
            total += np.asarray(v.embedding, dtype=np.float64) * max(v.weight, 1.0)
        if not np.any(total):
            return
        mean = unit(total)
        weight = sum(v.weight for v in kept)
        _set_profile_embedding(
            self.conn, profile_id=profile_id, embedding=_as_db(mean), signature=signature(mean), weight=weight
        )
