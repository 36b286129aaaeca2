"""The speakers of a file: naming, verifying, merging, linking to profiles, and cross-file matches."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Invalid, NotFound
from repo.rows import Actor


@dataclass(frozen=True, slots=True)
class Speaker:
    id: int
    uuid: UUID
    media_file_uuid: UUID
    label: str
    display_name: str | None
    suggested_name: str | None
    verified: bool
    confidence: float | None
    profile_uuid: UUID | None
    profile_name: str | None
    segment_count: int
    talk_time: float


@dataclass(frozen=True, slots=True)
class SpeakerMatch:
    """Another speaker matched with the one asked about."""

    id: int
    speaker_uuid: UUID
    speaker_label: str
    speaker_name: str
    media_file_uuid: UUID
    filename: str
    confidence: float


@dataclass(frozen=True, slots=True)
class MergePair:
    source_id: int
    target_id: int


_list_for_file = s.many("speakers.list_for_file", Speaker)
_file_visible = s.scalar("segments.file_visible", bool)
_get = s.one("speakers.get", Speaker)
_update = s.one("speakers.update", Speaker)
_assign_profile = s.one_or_none("speakers.assign_profile", Speaker)
_lock_merge_pair = s.one("speakers.lock_merge_pair", MergePair)
_move_segments = s.execute("speakers.move_segments")
_move_matches = s.execute("speakers.move_matches")
_absorb_source = s.execute("speakers.absorb_source")
_upsert_match = s.scalar("speakers.upsert_match", int)
_speaker_visible = s.scalar("speakers.speaker_visible", bool)
_matches_for = s.many("speakers.matches_for", SpeakerMatch)


class SpeakerRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def list_for_file(self, actor: Actor, file_uuid: UUID) -> list[Speaker]:
        """The file's speakers by label; [] for a visible file without speakers (only then a second query)."""
        found = _list_for_file(self.conn, file_uuid=file_uuid, **actor.scope())
        if not found and not _file_visible(self.conn, file_uuid=file_uuid, **actor.scope()):
            raise NotFound("media file not found")
        return found

    def get(self, actor: Actor, speaker_uuid: UUID) -> Speaker:
        return _get(self.conn, speaker_uuid=speaker_uuid, **actor.scope())

    def update(
        self,
        actor: Actor,
        speaker_uuid: UUID,
        *,
        display_name: str | None = None,
        verified: bool | None = None,
        suggested_name: str | None = None,
    ) -> Speaker:
        """Rename or verify; None leaves a field unchanged, "" clears a name."""
        return _update(
            self.conn,
            speaker_uuid=speaker_uuid,
            display_name=display_name,
            suggested_name=suggested_name,
            verified=verified,
            **actor.scope(),
        )

    def assign_profile(self, actor: Actor, speaker_uuid: UUID, profile_uuid: UUID | None) -> Speaker:
        """Link the speaker to one of the owner's profiles, or unlink it with None."""
        found = _assign_profile(self.conn, speaker_uuid=speaker_uuid, profile_uuid=profile_uuid, **actor.scope())
        if found is None:
            raise NotFound("speaker or speaker profile not found")
        return found

    def merge(self, actor: Actor, file_uuid: UUID, source_speaker_uuid: UUID, target_speaker_uuid: UUID) -> Speaker:
        """Fold the source speaker into the target: its segments and matches move, then it is deleted."""
        if source_speaker_uuid == target_speaker_uuid:
            raise Invalid("a speaker cannot be merged into itself", "target_speaker_uuid")
        with self.conn.transaction():
            pair = _lock_merge_pair(
                self.conn,
                file_uuid=file_uuid,
                source_uuid=source_speaker_uuid,
                target_uuid=target_speaker_uuid,
                **actor.scope(),
            )
            ids = {"source_id": pair.source_id, "target_id": pair.target_id}
            _move_segments(self.conn, **ids)
            _move_matches(self.conn, **ids)
            _absorb_source(self.conn, **ids)
            return self.get(actor, target_speaker_uuid)

    def upsert_match(self, speaker_a_id: int, speaker_b_id: int, confidence: float) -> int:
        """Record how alike two speakers are (workers; no actor); the pair is stored once, in either order."""
        if speaker_a_id == speaker_b_id:
            raise Invalid("a speaker cannot match itself", "speaker_b_id")
        return _upsert_match(self.conn, speaker_a_id=speaker_a_id, speaker_b_id=speaker_b_id, confidence=confidence)

    def matches_for(self, actor: Actor, speaker_uuid: UUID) -> list[SpeakerMatch]:
        found = _matches_for(self.conn, speaker_uuid=speaker_uuid, **actor.scope())
        if not found and not _speaker_visible(self.conn, speaker_uuid=speaker_uuid, **actor.scope()):
            raise NotFound("speaker not found")
        return found
