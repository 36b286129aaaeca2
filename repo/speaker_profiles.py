"""Speaker profiles (a person recognised across files) and collections of profiles, both owned by a user."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Forbidden, Invalid, NotFound
from repo.rows import Actor
from repo.voices import VoiceRepository

T = TypeVar("T")
SAMPLE_SECONDS = 8.0  # a voice sample: long enough to recognise someone, short enough to fetch at once


@dataclass(frozen=True, slots=True)
class SpeakerProfile:
    id: int
    uuid: UUID
    name: str
    description: str | None
    speaker_count: int
    file_count: int  # the files its speakers are heard in
    talk_time: float  # seconds, over all of them
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VoiceSample:
    """Where to hear a profile's person: a stretch of one of their segments (to play with a media fragment)."""

    profile_uuid: UUID
    file_uuid: UUID
    start_time: float
    end_time: float


@dataclass(frozen=True, slots=True)
class MergePair:
    keep_id: int
    gone_id: int


@dataclass(frozen=True, slots=True)
class ProfileOccurrence:
    """One file where a speaker is linked to the profile."""

    file_uuid: UUID
    filename: str
    speaker_uuid: UUID
    speaker_label: str
    speaker_name: str
    segment_count: int
    talk_time: float
    assigned_by: str | None  # 'auto': linked by voice matching (with `confidence`); 'user': by hand
    verified: bool
    confidence: float | None


@dataclass(frozen=True, slots=True)
class SpeakerCollection:
    id: int
    uuid: UUID
    name: str
    description: str | None
    profile_uuids: list[UUID]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MemberChange:
    matched: int
    changed: int


_create = s.one_or_none("speaker_profiles.create", SpeakerProfile)
_get = s.one("speaker_profiles.get", SpeakerProfile)
_list = s.many("speaker_profiles.list", SpeakerProfile)
_update = s.one_or_none("speaker_profiles.update", SpeakerProfile)
_forget_links = s.execute("speaker_profiles.forget_links")
_delete = s.rowcount("speaker_profiles.delete")
_profile_visible = s.scalar("speaker_profiles.profile_visible", bool)
_profile_owned = s.scalar("speaker_profiles.profile_owned", bool)
_occurrences = s.many("speaker_profiles.occurrences", ProfileOccurrence)
_samples = s.many("speaker_profiles.samples", VoiceSample)
_merge_pair = s.one_or_none("speaker_profiles.merge_pair", MergePair)
_move_suggestions = s.execute("speaker_profiles.move_suggestions")
_move_speakers = s.execute("speaker_profiles.move_speakers")
_move_members = s.execute("speaker_profiles.move_members")
_absorb = s.execute("speaker_profiles.absorb")
_create_collection = s.one_or_none("speaker_profiles.create_collection", SpeakerCollection)
_get_collection = s.one_or_none("speaker_profiles.get_collection", SpeakerCollection)
_list_collections = s.many("speaker_profiles.list_collections", SpeakerCollection)
_update_collection = s.one_or_none("speaker_profiles.update_collection", SpeakerCollection)
_delete_collection = s.rowcount("speaker_profiles.delete_collection")
_add_members = s.one_or_none("speaker_profiles.add_members", MemberChange)
_remove_members = s.one_or_none("speaker_profiles.remove_members", MemberChange)


@contextmanager
def _name_taken_is_conflict(kind: str) -> Iterator[None]:
    """The unique (user_id, name) constraint reports field "user_id_name"; callers know it as "name"."""
    try:
        yield
    except Conflict as exc:
        raise Conflict(f"a {kind} with this name already exists", "name") from exc


class SpeakerProfileRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, actor: Actor, name: str, description: str | None = None) -> SpeakerProfile:
        created = _create(self.conn, name=name, description=description, actor_id=actor.id)
        if created is None:
            raise Conflict("a speaker profile with this name already exists", "name")
        return created

    def get(self, actor: Actor, profile_uuid: UUID) -> SpeakerProfile:
        return _get(self.conn, profile_uuid=profile_uuid, **actor.scope())

    def list_mine(self, actor: Actor, *, after_name: str | None = None, limit: int = 100) -> list[SpeakerProfile]:
        """The actor's own profiles and those shared with them, by name; pass the last name seen as `after_name` for
        the next page."""
        return _list(self.conn, after_name=after_name, limit=limit, **actor.scope())

    def update(
        self, actor: Actor, profile_uuid: UUID, *, name: str | None = None, description: str | None = None
    ) -> SpeakerProfile:
        with _name_taken_is_conflict("speaker profile"):
            updated = _update(self.conn, profile_uuid=profile_uuid, name=name, description=description, **actor.scope())
        return updated or self._refuse(actor, profile_uuid)

    def delete(self, actor: Actor, profile_uuid: UUID) -> None:
        """Speakers linked to the profile stay, unlinked."""
        with self.conn.transaction():
            _forget_links(self.conn, profile_uuid=profile_uuid, **actor.scope())
            if _delete(self.conn, profile_uuid=profile_uuid, **actor.scope()) == 0:
                self._refuse(actor, profile_uuid)

    def merge(self, actor: Actor, profile_uuid: UUID, source_profile_uuid: UUID) -> SpeakerProfile:
        """Fold the source profile into this one: its speakers (linked and verified as they were), its suggestions
        (a rejection by either stays a rejection), its collections and, when this one has none, its description
        move here, and it is deleted. The kept profile re-learns its voice from all its verified speakers; with none
        to learn from, it keeps the weighted mean of both profiles' voices. NotFound when this profile is not the
        actor's; Conflict naming `source_profile_uuid` when the source is not a profile of theirs (a body reference
        that resolves to nothing, answered as the speakers' merge answers one)."""
        if profile_uuid == source_profile_uuid:
            raise Invalid("a speaker profile cannot be merged into itself", "source_profile_uuid")
        with self.conn.transaction():
            pair = _merge_pair(
                self.conn, profile_uuid=profile_uuid, source_profile_uuid=source_profile_uuid, **actor.scope()
            )
            if pair is None:
                if not _profile_visible(self.conn, profile_uuid=profile_uuid, **actor.scope()):
                    raise NotFound("speaker profile not found")
                if not _profile_owned(self.conn, profile_uuid=profile_uuid, **actor.scope()):
                    raise Forbidden("only the speaker profile's owner may merge it", "profile")
                raise Conflict("source_profile_uuid: no such speaker profile of yours", "source_profile_uuid")
            ids = {"keep_id": pair.keep_id, "gone_id": pair.gone_id}
            voices = VoiceRepository(self.conn)
            before = voices.profile_voices([pair.keep_id, pair.gone_id])
            _move_suggestions(self.conn, **ids)
            _move_speakers(self.conn, **ids)
            _move_members(self.conn, **ids)
            _absorb(self.conn, **ids)
            if voices.relearn([pair.keep_id]):
                voices.combine(pair.keep_id, before)
            return self.get(actor, profile_uuid)

    def _refuse(self, actor: Actor, profile_uuid: UUID) -> SpeakerProfile:
        """Why a write on a profile matched no row: NotFound when the actor cannot see it, Forbidden when it is
        shared with them (only its owner edits, merges or deletes it)."""
        if _profile_visible(self.conn, profile_uuid=profile_uuid, **actor.scope()):
            raise Forbidden("only the speaker profile's owner may change it", "profile")
        raise NotFound("speaker profile not found")

    def samples(self, actor: Actor, profile_uuids: Sequence[UUID]) -> dict[UUID, VoiceSample]:
        """A few seconds of each profile's voice to play (its longest segment, verified speakers first); profiles
        whose speakers have no segment have none."""
        found = _samples(self.conn, profile_uuids=list(profile_uuids), seconds=SAMPLE_SECONDS, **actor.scope())
        return {sample.profile_uuid: sample for sample in found}

    def occurrences(self, actor: Actor, profile_uuid: UUID) -> list[ProfileOccurrence]:
        """Where the profile's person speaks, across files; [] for a visible profile linked to nobody."""
        found = _occurrences(self.conn, profile_uuid=profile_uuid, **actor.scope())
        if not found and not _profile_visible(self.conn, profile_uuid=profile_uuid, **actor.scope()):
            raise NotFound("speaker profile not found")
        return found


class SpeakerCollectionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, actor: Actor, name: str, description: str | None = None) -> SpeakerCollection:
        created = _create_collection(self.conn, name=name, description=description, actor_id=actor.id)
        if created is None:
            raise Conflict("a speaker collection with this name already exists", "name")
        return created

    def get(self, actor: Actor, collection_uuid: UUID) -> SpeakerCollection:
        return _found(_get_collection(self.conn, collection_uuid=collection_uuid, **actor.scope()))

    def list_mine(self, actor: Actor, *, after_name: str | None = None, limit: int = 100) -> list[SpeakerCollection]:
        """The actor's own collections (with their profiles) by name; keyset on `after_name`."""
        return _list_collections(self.conn, after_name=after_name, limit=limit, actor_id=actor.id)

    def update(
        self, actor: Actor, collection_uuid: UUID, *, name: str | None = None, description: str | None = None
    ) -> SpeakerCollection:
        with _name_taken_is_conflict("speaker collection"):
            updated = _update_collection(
                self.conn, collection_uuid=collection_uuid, name=name, description=description, **actor.scope()
            )
        return _found(updated)

    def delete(self, actor: Actor, collection_uuid: UUID) -> None:
        """The profiles stay; only their membership goes."""
        if _delete_collection(self.conn, collection_uuid=collection_uuid, **actor.scope()) == 0:
            raise NotFound("speaker collection not found")

    def add_profiles(self, actor: Actor, collection_uuid: UUID, profile_uuids: Sequence[UUID]) -> SpeakerCollection:
        """Add several profiles at once (already present ones are kept); all or nothing."""
        self._change_members(_add_members, actor, collection_uuid, profile_uuids)
        return self.get(actor, collection_uuid)

    def remove_profiles(self, actor: Actor, collection_uuid: UUID, profile_uuids: Sequence[UUID]) -> SpeakerCollection:
        """Remove several profiles at once (ones not in the collection are ignored); all or nothing."""
        self._change_members(_remove_members, actor, collection_uuid, profile_uuids)
        return self.get(actor, collection_uuid)

    def _change_members(
        self, query: s.OneOrNone[MemberChange], actor: Actor, collection_uuid: UUID, profile_uuids: Sequence[UUID]
    ) -> None:
        wanted = list(dict.fromkeys(profile_uuids))
        change = _found(query(self.conn, collection_uuid=collection_uuid, profile_uuids=wanted, **actor.scope()))
        if change.matched != len(wanted):
            # A conflict, not a 404: the collection in the path exists; a profile the body names does not.
            raise Conflict("not every profile named is one of your speaker profiles", "profile_uuids")


def _found(row: T | None) -> T:
    if row is None:
        raise NotFound("speaker collection not found")
    return row
