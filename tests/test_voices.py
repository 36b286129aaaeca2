"""Voice matching across files, with constructed embeddings whose similarities are known exactly."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import pytest

from repo.errors import Forbidden, NotFound
from repo.rows import Actor
from repo.speaker_profiles import SpeakerProfileRepository
from repo.speakers import SpeakerRepository
from repo.voices import SIGNATURE_BITS, VoiceRepository, screen_bits, signature, unit
from tests import factories
from transcript.speakers import Voice

Conn = psycopg.Connection[Any]
DIM = 64
AUTO, SUGGEST = 0.80, 0.65


def _voices(seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three orthonormal "voices": cosine 0 between any two."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((DIM, 3)))
    return q[:, 0], q[:, 1], q[:, 2]


ANN, BOB, CY = _voices()


def at_similarity(base: np.ndarray, other: np.ndarray, cosine: float) -> list[float]:
    """A unit vector at exactly `cosine` to `base` (other must be orthogonal to base)."""
    return list(cosine * base + math.sqrt(1 - cosine**2) * other)


def noisy(base: np.ndarray, seed: int, amount: float = 0.1) -> list[float]:
    noise = np.random.default_rng(seed).standard_normal(DIM)
    return list(base + amount * noise / np.linalg.norm(noise))


@dataclass
class Recording:
    file_id: int
    file_uuid: uuid.UUID
    speaker_ids: dict[str, int]

    def uuid_of(self, conn: Conn, label: str) -> uuid.UUID:
        row = conn.execute("SELECT uuid FROM speakers WHERE id = %s", [self.speaker_ids[label]]).fetchone()
        assert row is not None
        return uuid.UUID(str(row[0]))


def record(conn: Conn, owner: Actor, voices: dict[str, list[float]], seconds: float = 30.0) -> Recording:
    """A processed file whose speakers have these voices, matched as the worker does after processing."""
    file_id, file_uuid = factories.media_file(conn, owner, status="completed")
    ids = {label: factories.speaker(conn, owner, file_id, label) for label in voices}
    repo = VoiceRepository(conn)
    assert repo.store_embeddings(file_id, {k: Voice(v, seconds) for k, v in voices.items()}) == len(voices)
    repo.match_file(file_id, owner.id, auto_assign=AUTO, suggest=SUGGEST)
    return Recording(file_id, file_uuid, ids)


def profile_from(conn: Conn, owner: Actor, rec: Recording, label: str, name: str) -> uuid.UUID:
    """What a user does in the UI: create a profile, link the speaker to it, verify it."""
    profile = SpeakerProfileRepository(conn).create(owner, name)
    speakers = SpeakerRepository(conn)
    speaker = rec.uuid_of(conn, label)
    speakers.assign_profile(owner, speaker, profile.uuid)
    speakers.update(owner, speaker, verified=True)
    return profile.uuid


def profile_embedding(conn: Conn, profile_uuid: uuid.UUID) -> np.ndarray | None:
    row = conn.execute("SELECT embedding FROM speaker_profiles WHERE uuid = %s", [profile_uuid]).fetchone()
    assert row is not None
    return None if row[0] is None else np.asarray(row[0], dtype=np.float64)


def test_the_same_voice_in_a_second_file_is_auto_assigned_to_the_profile_made_from_the_first(conn: Conn) -> None:
    me = factories.user(conn)
    first = record(conn, me, {"SPEAKER_00": noisy(ANN, 1), "SPEAKER_01": noisy(BOB, 2)})
    ann = profile_from(conn, me, first, "SPEAKER_00", "Ann")

    second = record(conn, me, {"SPEAKER_00": noisy(BOB, 3), "SPEAKER_01": noisy(ANN, 4)})

    speakers = {s.label: s for s in SpeakerRepository(conn).list_for_file(me, second.file_uuid)}
    recognised = speakers["SPEAKER_01"]
    assert (recognised.profile_uuid, recognised.profile_name, recognised.assigned_by) == (ann, "Ann", "auto")
    assert recognised.verified is False
    assert recognised.confidence is not None and recognised.confidence > AUTO
    assert speakers["SPEAKER_00"].profile_uuid is None  # Bob has no profile
    occurrences = {o.file_uuid: o for o in SpeakerProfileRepository(conn).occurrences(me, ann)}
    assert (occurrences[first.file_uuid].assigned_by, occurrences[first.file_uuid].verified) == ("user", True)
    assert (occurrences[second.file_uuid].assigned_by, occurrences[second.file_uuid].verified) == ("auto", False)
    # every pair above the suggest threshold across the files is a match: Ann with Ann, Bob with Bob
    pairs = conn.execute("SELECT speaker1_id, speaker2_id FROM speaker_matches").fetchall()
    expected = {
        tuple(sorted((first.speaker_ids["SPEAKER_00"], second.speaker_ids["SPEAKER_01"]))),
        tuple(sorted((first.speaker_ids["SPEAKER_01"], second.speaker_ids["SPEAKER_00"]))),
    }
    assert set(pairs) == expected


def test_a_voice_at_similarity_0_7_is_suggested_not_assigned(conn: Conn) -> None:
    me = factories.user(conn)
    first = record(conn, me, {"SPEAKER_00": list(ANN)})
    ann = profile_from(conn, me, first, "SPEAKER_00", "Ann")

    second = record(conn, me, {"SPEAKER_00": at_similarity(ANN, CY, 0.7)})

    speakers = SpeakerRepository(conn)
    speaker = second.uuid_of(conn, "SPEAKER_00")
    assert speakers.get(me, speaker).profile_uuid is None
    (suggestion,) = speakers.suggestions(me, speaker)
    assert (suggestion.profile_uuid, suggestion.profile_name, suggestion.assigned) == (ann, "Ann", False)
    assert suggestion.confidence == pytest.approx(0.7, abs=1e-5)


def test_a_rejected_suggestion_never_returns(conn: Conn) -> None:
    me = factories.user(conn)
    first = record(conn, me, {"SPEAKER_00": list(ANN)})
    ann = profile_from(conn, me, first, "SPEAKER_00", "Ann")
    second = record(conn, me, {"SPEAKER_00": noisy(ANN, 5)})
    speakers, voices = SpeakerRepository(conn), VoiceRepository(conn)
    speaker = second.uuid_of(conn, "SPEAKER_00")
    assert speakers.get(me, speaker).assigned_by == "auto"

    speakers.reject_suggestion(me, speaker, ann)

    assert speakers.get(me, speaker).profile_uuid is None
    assert speakers.suggestions(me, speaker) == []
    voices.match_file(second.file_id, me.id, auto_assign=AUTO, suggest=SUGGEST)  # processed again
    assert speakers.get(me, speaker).profile_uuid is None
    assert speakers.suggestions(me, speaker) == []


def test_accepting_a_suggestion_links_verifies_and_teaches_the_profile(conn: Conn) -> None:
    me = factories.user(conn)
    first = record(conn, me, {"SPEAKER_00": list(ANN)}, seconds=10)
    ann = profile_from(conn, me, first, "SPEAKER_00", "Ann")
    second = record(conn, me, {"SPEAKER_00": at_similarity(ANN, CY, 0.7)}, seconds=30)
    speaker = second.uuid_of(conn, "SPEAKER_00")

    accepted = SpeakerRepository(conn).accept_suggestion(me, speaker, ann)

    assert (accepted.profile_uuid, accepted.assigned_by, accepted.verified) == (ann, "user", True)
    learned = profile_embedding(conn, ann)
    expected = unit(10 * ANN + 30 * np.asarray(at_similarity(ANN, CY, 0.7)))
    assert learned is not None and np.allclose(learned, expected, atol=1e-6)


def test_another_users_identical_voice_is_never_matched(conn: Conn) -> None:
    me, stranger = factories.user(conn), factories.user(conn)
    mine = record(conn, me, {"SPEAKER_00": list(ANN)})
    profile_from(conn, me, mine, "SPEAKER_00", "Ann")

    theirs = record(conn, stranger, {"SPEAKER_00": list(ANN)})

    speaker = theirs.uuid_of(conn, "SPEAKER_00")
    assert SpeakerRepository(conn).get(stranger, speaker).profile_uuid is None
    assert SpeakerRepository(conn).suggestions(stranger, speaker) == []
    assert SpeakerRepository(conn).matches_for(stranger, speaker) == []
    assert SpeakerRepository(conn).matches_for(me, mine.uuid_of(conn, "SPEAKER_00")) == []


def test_a_profile_shared_with_a_group_is_suggested_to_its_members(conn: Conn) -> None:
    me, colleague, outsider = factories.user(conn), factories.user(conn), factories.user(conn)
    mine = record(conn, me, {"SPEAKER_00": list(ANN)})
    ann = profile_from(conn, me, mine, "SPEAKER_00", "Ann 安 آن")
    group = conn.execute(
        "INSERT INTO groups (name, created_by) VALUES ('Redaktion 🎙️', %s) RETURNING id", [me.id]
    ).fetchone()
    assert group is not None
    conn.execute("INSERT INTO group_members (group_id, user_id) VALUES (%s, %s)", [group[0], colleague.id])
    conn.execute(
        "INSERT INTO shares (speaker_profile_id, group_id, role, shared_by) "
        "SELECT id, %s, 'viewer', %s FROM speaker_profiles WHERE uuid = %s",
        [group[0], me.id, ann],
    )

    theirs = record(conn, colleague, {"SPEAKER_00": at_similarity(ANN, CY, 0.7)})
    elsewhere = record(conn, outsider, {"SPEAKER_00": at_similarity(ANN, CY, 0.7)})

    speakers = SpeakerRepository(conn)
    (suggestion,) = speakers.suggestions(colleague, theirs.uuid_of(conn, "SPEAKER_00"))
    assert (suggestion.profile_uuid, suggestion.profile_name) == (ann, "Ann 安 آن")
    assert speakers.suggestions(outsider, elsewhere.uuid_of(conn, "SPEAKER_00")) == []
    profiles = SpeakerProfileRepository(conn)
    assert [p.uuid for p in profiles.list_mine(colleague)] == [ann]
    with pytest.raises(Forbidden):  # shared to read and recognise; only its owner renames it
        profiles.update(colleague, ann, name="mine now")
    with pytest.raises(NotFound):
        profiles.update(outsider, ann, name="mine now")


def test_verifying_a_speaker_moves_the_profile_embedding(conn: Conn) -> None:
    me = factories.user(conn)
    first = record(conn, me, {"SPEAKER_00": list(ANN)}, seconds=20)
    ann = profile_from(conn, me, first, "SPEAKER_00", "Ann")
    before = profile_embedding(conn, ann)
    assert before is not None and np.allclose(before, ANN, atol=1e-6)
    other = record(conn, me, {"SPEAKER_00": at_similarity(ANN, BOB, 0.6)}, seconds=60)
    speakers = SpeakerRepository(conn)
    speaker = other.uuid_of(conn, "SPEAKER_00")
    speakers.assign_profile(me, speaker, ann)
    unchanged = profile_embedding(conn, ann)
    assert unchanged is not None and np.allclose(unchanged, ANN, atol=1e-6)  # linked but not verified: no lesson

    speakers.update(me, speaker, verified=True)

    moved = profile_embedding(conn, ann)
    expected = unit(20 * ANN + 60 * np.asarray(at_similarity(ANN, BOB, 0.6)))
    assert moved is not None and np.allclose(moved, expected, atol=1e-6)
    speakers.update(me, speaker, verified=False)
    back = profile_embedding(conn, ann)
    assert back is not None and np.allclose(back, ANN, atol=1e-6)


def test_deleting_a_profile_leaves_its_speakers_unassigned_not_deleted(conn: Conn) -> None:
    me = factories.user(conn)
    first = record(conn, me, {"SPEAKER_00": list(ANN)})
    ann = profile_from(conn, me, first, "SPEAKER_00", "Ann")
    second = record(conn, me, {"SPEAKER_00": noisy(ANN, 6)})

    SpeakerProfileRepository(conn).delete(me, ann)

    for rec in (first, second):
        speaker = SpeakerRepository(conn).get(me, rec.uuid_of(conn, "SPEAKER_00"))
        assert (speaker.profile_uuid, speaker.assigned_by) == (None, None)


def test_signatures_screen_by_angle() -> None:
    """The screen keeps a pair at the suggest threshold and drops an unrelated (orthogonal) pair."""
    a, b = unit(ANN), unit(np.asarray(at_similarity(ANN, CY, SUGGEST)))
    far = unit(BOB)

    def distance(x: np.ndarray, y: np.ndarray) -> int:
        return sum(p != q for p, q in zip(signature(x), signature(y), strict=True))

    assert len(signature(a)) == SIGNATURE_BITS and distance(a, a) == 0
    assert distance(a, b) <= screen_bits(SUGGEST) < distance(a, far)


def test_processing_a_file_again_matches_it_afresh_but_keeps_the_users_decisions(conn: Conn) -> None:
    me = factories.user(conn)
    first = record(conn, me, {"SPEAKER_00": list(ANN)})
    ann = profile_from(conn, me, first, "SPEAKER_00", "Ann")
    second = record(conn, me, {"SPEAKER_00": noisy(ANN, 8), "SPEAKER_01": noisy(ANN, 9)})
    speakers, voices = SpeakerRepository(conn), VoiceRepository(conn)
    kept, changed = second.uuid_of(conn, "SPEAKER_00"), second.uuid_of(conn, "SPEAKER_01")
    speakers.update(me, kept, verified=True)  # the user confirmed this automatic link

    voices.store_embeddings(second.file_id, {"SPEAKER_01": Voice(list(BOB))})  # another voice this time
    voices.match_file(second.file_id, me.id, auto_assign=AUTO, suggest=SUGGEST)

    assert (speakers.get(me, kept).profile_uuid, speakers.get(me, kept).verified) == (ann, True)
    assert speakers.get(me, changed).profile_uuid is None
    assert speakers.suggestions(me, changed) == []


def _share_profile_with(conn: Conn, owner: Actor, profile: uuid.UUID, member: Actor) -> None:
    group = conn.execute(
        "INSERT INTO groups (name, created_by) VALUES ('فريق الصوت 🎧', %s) RETURNING id", [owner.id]
    ).fetchone()
    assert group is not None
    conn.execute("INSERT INTO group_members (group_id, user_id) VALUES (%s, %s)", [group[0], member.id])
    conn.execute(
        "INSERT INTO shares (speaker_profile_id, group_id, role, shared_by) "
        "SELECT id, %s, 'viewer', %s FROM speaker_profiles WHERE uuid = %s",
        [group[0], owner.id, profile],
    )


def test_a_shared_profile_is_suggested_but_never_linked_automatically(conn: Conn) -> None:
    me, colleague = factories.user(conn), factories.user(conn)
    mine = record(conn, me, {"SPEAKER_00": list(ANN)})
    ann = profile_from(conn, me, mine, "SPEAKER_00", "Ann 安")
    _share_profile_with(conn, me, ann, colleague)

    theirs = record(conn, colleague, {"SPEAKER_00": noisy(ANN, 11)})  # well above the auto-assign threshold

    speakers = SpeakerRepository(conn)
    speaker = theirs.uuid_of(conn, "SPEAKER_00")
    assert speakers.get(colleague, speaker).profile_uuid is None
    (suggestion,) = speakers.suggestions(colleague, speaker)
    assert suggestion.profile_uuid == ann and suggestion.confidence > AUTO and suggestion.assigned is False


def test_accepting_a_shared_profile_links_it_but_never_changes_its_owners_voice(conn: Conn) -> None:
    me, colleague = factories.user(conn), factories.user(conn)
    mine = record(conn, me, {"SPEAKER_00": list(ANN)})
    ann = profile_from(conn, me, mine, "SPEAKER_00", "Ann آن")
    _share_profile_with(conn, me, ann, colleague)
    before = profile_embedding(conn, ann)
    theirs = record(conn, colleague, {"SPEAKER_00": at_similarity(ANN, CY, 0.75)})
    speakers = SpeakerRepository(conn)
    speaker = theirs.uuid_of(conn, "SPEAKER_00")

    accepted = speakers.accept_suggestion(colleague, speaker, ann)
    speakers.update(colleague, speaker, verified=False)
    speakers.update(colleague, speaker, verified=True)

    assert (accepted.profile_uuid, accepted.profile_name, accepted.verified) == (ann, "Ann آن", True)
    after = profile_embedding(conn, ann)
    assert before is not None and after is not None and np.array_equal(before, after)
    # the owner's own verification later still learns only from the owner's speakers
    second = record(conn, me, {"SPEAKER_00": at_similarity(ANN, BOB, 0.9)})
    speakers.update(me, second.uuid_of(conn, "SPEAKER_00"), verified=True)
    learned = profile_embedding(conn, ann)
    expected = unit(ANN + np.asarray(at_similarity(ANN, BOB, 0.9)))
    assert learned is not None and np.allclose(learned, expected, atol=1e-6)


def test_a_viewers_verification_of_a_speaker_linked_to_a_shared_profile_teaches_it_nothing(conn: Conn) -> None:
    me, colleague = factories.user(conn), factories.user(conn)
    mine = record(conn, me, {"SPEAKER_00": list(ANN)})
    ann = profile_from(conn, me, mine, "SPEAKER_00", "Ann 🎙️")
    _share_profile_with(conn, me, ann, colleague)
    theirs = record(conn, colleague, {"SPEAKER_00": list(CY)})
    # a link made before this rule (or by any other way): the link stays, the voice is not taught
    conn.execute(
        "UPDATE speakers SET profile_id = (SELECT id FROM speaker_profiles WHERE uuid = %s), assigned_by = 'auto' "
        "WHERE id = %s",
        [ann, theirs.speaker_ids["SPEAKER_00"]],
    )
    before = profile_embedding(conn, ann)
    speakers = SpeakerRepository(conn)
    speaker = theirs.uuid_of(conn, "SPEAKER_00")

    verified = speakers.update(colleague, speaker, verified=True)
    speakers.reject_suggestion(colleague, speaker, ann)

    assert verified.profile_uuid == ann and verified.verified
    after = profile_embedding(conn, ann)
    assert before is not None and after is not None and np.array_equal(before, after)
    assert speakers.get(colleague, speaker).profile_uuid is None  # the rejection unlinked it
