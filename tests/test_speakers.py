from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from repo.errors import Conflict, Invalid, NotFound
from repo.rows import Actor
from repo.speaker_profiles import SpeakerCollectionRepository, SpeakerProfileRepository
from repo.speakers import SpeakerRepository
from tests import factories

Conn = psycopg.Connection[Any]


@dataclass
class Meeting:
    owner: Actor
    file_id: int
    file_uuid: uuid.UUID
    ann: uuid.UUID
    bob: uuid.UUID
    ann_id: int
    bob_id: int


def _uuid_of(conn: Conn, table: str, row_id: int) -> uuid.UUID:
    row = conn.execute(f"SELECT uuid FROM {table} WHERE id = %s", (row_id,)).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def _meeting(conn: Conn, owner: Actor | None = None, filename: str = "talk.wav") -> Meeting:
    """A file where SPEAKER_00 says three segments and SPEAKER_01 one (0.9 s each)."""
    owner = owner or factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner, filename=filename)
    ann_id = factories.speaker(conn, owner, file_id, "SPEAKER_00")
    bob_id = factories.speaker(conn, owner, file_id, "SPEAKER_01")
    factories.segments(conn, file_id, ["hi", "so", "bye"], ann_id)
    conn.execute(
        "INSERT INTO transcript_segments (media_file_id, speaker_id, start_time, end_time, text) "
        "VALUES (%s, %s, 10, 10.9, 'yes')",
        (file_id, bob_id),
    )
    ann, bob = _uuid_of(conn, "speakers", ann_id), _uuid_of(conn, "speakers", bob_id)
    return Meeting(owner, file_id, file_uuid, ann, bob, ann_id, bob_id)


def _count(conn: Conn, sql: str, *params: Any) -> int:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def test_list_for_file_gives_each_speaker_with_talk_time_and_profile(conn: Conn) -> None:
    m = _meeting(conn)
    profile = SpeakerProfileRepository(conn).create(m.owner, "Ann Smith")
    speakers = SpeakerRepository(conn)
    speakers.assign_profile(m.owner, m.ann, profile.uuid)

    ann, bob = speakers.list_for_file(m.owner, m.file_uuid)
    assert (ann.label, ann.segment_count, ann.profile_uuid, ann.profile_name) == (
        "SPEAKER_00",
        3,
        profile.uuid,
        "Ann Smith",
    )
    assert ann.talk_time == pytest.approx(2.7) and bob.talk_time == pytest.approx(0.9)
    assert (bob.label, bob.segment_count, bob.profile_uuid, bob.verified) == ("SPEAKER_01", 1, None, False)
    assert ann.media_file_uuid == m.file_uuid
    assert speakers.get(m.owner, m.ann) == ann


def test_a_visible_file_without_speakers_lists_none(conn: Conn) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    assert SpeakerRepository(conn).list_for_file(owner, file_uuid) == []


def test_rename_verify_and_clear_a_speaker(conn: Conn) -> None:
    m = _meeting(conn)
    speakers = SpeakerRepository(conn)
    renamed = speakers.update(m.owner, m.ann, display_name="  Ann  ", verified=True, suggested_name="Anne?")
    assert (renamed.display_name, renamed.verified, renamed.suggested_name) == ("Ann", True, "Anne?")
    assert renamed.segment_count == 3
    kept = speakers.update(m.owner, m.ann, suggested_name="")
    assert (kept.display_name, kept.verified, kept.suggested_name) == ("Ann", True, None)
    with pytest.raises(Invalid), conn.transaction():
        speakers.update(m.owner, m.ann, display_name="x" * 201)


def test_assign_profile_only_to_the_owners_profiles(conn: Conn) -> None:
    m = _meeting(conn)
    stranger = factories.user(conn)
    theirs = SpeakerProfileRepository(conn).create(stranger, "Ann")
    mine = SpeakerProfileRepository(conn).create(m.owner, "Ann")
    speakers = SpeakerRepository(conn)
    with pytest.raises(NotFound):
        speakers.assign_profile(m.owner, m.ann, theirs.uuid)
    assert speakers.assign_profile(m.owner, m.ann, mine.uuid).profile_name == "Ann"
    assert speakers.assign_profile(m.owner, m.ann, None).profile_uuid is None


def test_merge_moves_segments_and_matches_and_leaves_no_orphans(conn: Conn) -> None:
    m = _meeting(conn)
    other = _meeting(conn, m.owner, "other.wav")
    speakers = SpeakerRepository(conn)
    speakers.update(m.owner, m.bob, display_name="Bob")
    factories.speaker_match(conn, m.ann_id, m.bob_id, 0.5)  # source-target: disappears
    factories.speaker_match(conn, m.bob_id, other.ann_id, 0.9)  # moves to ann
    factories.speaker_match(conn, m.ann_id, other.ann_id, 0.4)  # ann already has it: the higher confidence stays
    factories.speaker_match(conn, m.bob_id, other.bob_id, 0.3)  # moves, re-ordered for the target's id

    merged = speakers.merge(m.owner, m.file_uuid, m.bob, m.ann)
    assert (merged.uuid, merged.segment_count, merged.display_name) == (m.ann, 4, "Bob")
    assert merged.talk_time == pytest.approx(3.6)
    assert [s.uuid for s in speakers.list_for_file(m.owner, m.file_uuid)] == [m.ann]
    assert _count(conn, "SELECT count(*) FROM speakers WHERE id = %s", m.bob_id) == 0
    assert _count(conn, "SELECT count(*) FROM transcript_segments WHERE media_file_id = %s", m.file_id) == 4
    assert (
        _count(
            conn, "SELECT count(*) FROM transcript_segments WHERE speaker_id IS NULL AND media_file_id = %s", m.file_id
        )
        == 0
    )
    assert _count(conn, "SELECT count(*) FROM speaker_matches WHERE %s IN (speaker1_id, speaker2_id)", m.bob_id) == 0
    matches = speakers.matches_for(m.owner, m.ann)
    assert [(x.speaker_uuid, round(x.confidence, 3)) for x in matches] == [(other.ann, 0.9), (other.bob, 0.3)]


def test_merge_refuses_itself_and_speakers_of_another_file(conn: Conn) -> None:
    m = _meeting(conn)
    other = _meeting(conn, m.owner, "other.wav")
    speakers = SpeakerRepository(conn)
    with pytest.raises(Invalid):
        speakers.merge(m.owner, m.file_uuid, m.ann, m.ann)
    with pytest.raises(NotFound):
        speakers.merge(m.owner, m.file_uuid, other.ann, m.ann)
    with pytest.raises(NotFound):
        speakers.merge(m.owner, other.file_uuid, m.bob, m.ann)
    assert len(speakers.list_for_file(m.owner, m.file_uuid)) == 2


def test_matches_list_the_other_speaker_of_each_pair_best_first(conn: Conn) -> None:
    m = _meeting(conn)
    other = _meeting(conn, m.owner, "other.wav")
    speakers = SpeakerRepository(conn)
    factories.speaker_match(conn, other.ann_id, m.ann_id, 0.8)
    factories.speaker_match(conn, m.ann_id, other.bob_id, 0.95)
    assert [(x.speaker_label, x.filename) for x in speakers.matches_for(m.owner, m.ann)] == [
        ("SPEAKER_01", "other.wav"),
        ("SPEAKER_00", "other.wav"),
    ]
    assert [(x.speaker_uuid, x.filename) for x in speakers.matches_for(m.owner, other.ann)] == [(m.ann, "talk.wav")]
    assert speakers.matches_for(m.owner, m.bob) == []
    for itself_or_too_sure in ((m.ann_id, m.ann_id, 0.5), (m.ann_id, m.bob_id, 1.5)):  # the schema refuses both
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            factories.speaker_match(conn, *itself_or_too_sure)


def test_profile_crud_and_unique_names(conn: Conn) -> None:
    owner, stranger = factories.user(conn), factories.user(conn)
    profiles = SpeakerProfileRepository(conn)
    ann = profiles.create(owner, "Ann", "chairs the meeting")
    bob = profiles.create(owner, "Bob")
    assert profiles.create(stranger, "Ann").name == "Ann"  # names are unique per user only
    with pytest.raises(Conflict) as info:
        profiles.create(owner, "Ann")
    assert info.value.field == "name"
    with pytest.raises(Conflict) as info, conn.transaction():
        profiles.update(owner, bob.uuid, name="Ann")
    assert info.value.field == "name"

    assert profiles.get(owner, ann.uuid) == ann
    assert [p.name for p in profiles.list_mine(owner)] == ["Ann", "Bob"]
    assert [p.name for p in profiles.list_mine(owner, after_name="Ann", limit=5)] == ["Bob"]
    renamed = profiles.update(owner, bob.uuid, name="Robert", description="CFO")
    assert (renamed.name, renamed.description) == ("Robert", "CFO")
    profiles.delete(owner, ann.uuid)
    with pytest.raises(NotFound):
        profiles.get(owner, ann.uuid)


def test_deleting_a_profile_unlinks_its_speakers(conn: Conn) -> None:
    m = _meeting(conn)
    profiles, speakers = SpeakerProfileRepository(conn), SpeakerRepository(conn)
    ann = profiles.create(m.owner, "Ann")
    speakers.assign_profile(m.owner, m.ann, ann.uuid)
    assert profiles.get(m.owner, ann.uuid).speaker_count == 1
    profiles.delete(m.owner, ann.uuid)
    assert speakers.get(m.owner, m.ann).profile_uuid is None
    assert _count(conn, "SELECT count(*) FROM speakers WHERE id = %s AND profile_id IS NULL", m.ann_id) == 1


def test_occurrences_across_two_files(conn: Conn) -> None:
    first = _meeting(conn, filename="monday.wav")
    second = _meeting(conn, first.owner, "tuesday.wav")
    profiles, speakers = SpeakerProfileRepository(conn), SpeakerRepository(conn)
    ann = profiles.create(first.owner, "Ann")
    assert profiles.occurrences(first.owner, ann.uuid) == []
    speakers.assign_profile(first.owner, first.ann, ann.uuid)
    speakers.assign_profile(first.owner, second.bob, ann.uuid)

    found = {o.filename: o for o in profiles.occurrences(first.owner, ann.uuid)}
    assert set(found) == {"monday.wav", "tuesday.wav"}
    assert (found["monday.wav"].speaker_label, found["monday.wav"].segment_count) == ("SPEAKER_00", 3)
    assert found["monday.wav"].talk_time == pytest.approx(2.7)
    assert (found["tuesday.wav"].speaker_uuid, found["tuesday.wav"].file_uuid) == (second.bob, second.file_uuid)
    assert found["tuesday.wav"].talk_time == pytest.approx(0.9)


def test_collections_crud_members_and_unique_names(conn: Conn) -> None:
    owner, stranger = factories.user(conn), factories.user(conn)
    profiles, collections = SpeakerProfileRepository(conn), SpeakerCollectionRepository(conn)
    ann, bob, cy = (profiles.create(owner, name) for name in ("Ann", "Bob", "Cy"))
    theirs = profiles.create(stranger, "Dee")
    team = collections.create(owner, "Team", "weekly")
    assert team.profile_uuids == []
    with pytest.raises(Conflict) as info:
        collections.create(owner, "Team")
    assert info.value.field == "name"

    team = collections.add_profiles(owner, team.uuid, [bob.uuid, ann.uuid, ann.uuid])
    assert team.profile_uuids == [ann.uuid, bob.uuid]
    assert collections.add_profiles(owner, team.uuid, [ann.uuid, cy.uuid]).profile_uuids == [
        ann.uuid,
        bob.uuid,
        cy.uuid,
    ]
    with pytest.raises(Conflict):
        collections.add_profiles(owner, team.uuid, [theirs.uuid])
    with pytest.raises(Conflict):
        collections.remove_profiles(owner, team.uuid, [ann.uuid, uuid.uuid4()])
    assert collections.remove_profiles(owner, team.uuid, [ann.uuid, cy.uuid]).profile_uuids == [bob.uuid]

    other = collections.create(owner, "Board")
    with pytest.raises(Conflict) as info, conn.transaction():
        collections.update(owner, other.uuid, name="Team")
    assert info.value.field == "name"
    assert collections.update(owner, other.uuid, description="quarterly").description == "quarterly"
    assert [c.name for c in collections.list_mine(owner)] == ["Board", "Team"]
    assert [c.name for c in collections.list_mine(owner, after_name="Board")] == ["Team"]
    assert collections.get(owner, team.uuid).profile_uuids == [bob.uuid]
    profiles.delete(owner, bob.uuid)
    assert collections.get(owner, team.uuid).profile_uuids == []
    collections.delete(owner, team.uuid)
    with pytest.raises(NotFound):
        collections.get(owner, team.uuid)
    assert profiles.get(owner, cy.uuid).name == "Cy"


def test_an_admin_reaches_every_users_speakers_only_in_the_all_files_view(conn: Conn) -> None:
    m = _meeting(conn)
    admin = factories.user(conn, admin=True)
    with pytest.raises(NotFound):
        SpeakerRepository(conn).list_for_file(admin, m.file_uuid)
    with pytest.raises(NotFound):
        SpeakerRepository(conn).update(admin, m.ann, verified=True)
    assert len(SpeakerRepository(conn).list_for_file(admin.seeing_all(), m.file_uuid)) == 2
    assert SpeakerRepository(conn).update(admin.seeing_all(), m.ann, verified=True).verified


def test_another_users_rows_are_not_found_for_every_method(conn: Conn) -> None:
    m = _meeting(conn)
    other = _meeting(conn, m.owner, "other.wav")
    stranger = factories.user(conn)
    speakers, profiles, collections = (
        SpeakerRepository(conn),
        SpeakerProfileRepository(conn),
        SpeakerCollectionRepository(conn),
    )
    profile = profiles.create(m.owner, "Ann")
    collection = collections.create(m.owner, "Team")
    factories.speaker_match(conn, m.ann_id, other.ann_id, 0.7)
    own_profile = profiles.create(stranger, "Mine")
    calls: list[Callable[[], object]] = [
        lambda: speakers.list_for_file(stranger, m.file_uuid),
        lambda: speakers.get(stranger, m.ann),
        lambda: speakers.update(stranger, m.ann, display_name="x"),
        lambda: speakers.assign_profile(stranger, m.ann, own_profile.uuid),
        lambda: speakers.assign_profile(stranger, m.ann, None),
        lambda: speakers.merge(stranger, m.file_uuid, m.bob, m.ann),
        lambda: speakers.matches_for(stranger, m.ann),
        lambda: profiles.get(stranger, profile.uuid),
        lambda: profiles.update(stranger, profile.uuid, name="x"),
        lambda: profiles.delete(stranger, profile.uuid),
        lambda: profiles.occurrences(stranger, profile.uuid),
        lambda: collections.get(stranger, collection.uuid),
        lambda: collections.update(stranger, collection.uuid, name="x"),
        lambda: collections.delete(stranger, collection.uuid),
        lambda: collections.add_profiles(stranger, collection.uuid, [own_profile.uuid]),
        lambda: collections.remove_profiles(stranger, collection.uuid, [profile.uuid]),
        lambda: speakers.list_for_file(m.owner, uuid.uuid4()),
    ]
    for call in calls:
        with pytest.raises(NotFound), conn.transaction():
            call()
    assert [p.name for p in profiles.list_mine(stranger)] == ["Mine"]
    assert collections.list_mine(stranger) == []
    assert speakers.get(m.owner, m.ann).display_name is None
    assert profiles.get(m.owner, profile.uuid).name == "Ann"
    assert len(speakers.matches_for(m.owner, m.ann)) == 1
