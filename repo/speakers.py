"""The speakers of a file: creating, naming, verifying, merging, deleting, linking to profiles (by hand or by
answering a suggestion), and cross-file matches.

Every change that can alter what a profile learns from (a verified speaker's link, its verification, a merge or a
delete) re-learns the profiles involved in the same transaction (repo.voices.VoiceRepository.relearn). A profile
shared with the file's owner recognises their speakers (suggestions, and a link when they accept one) but only its
own owner's verified speakers teach it: a change here never alters another person's profile's voice.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from repo import access
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Invalid, NotFound
from repo.rows import Actor
from repo.voices import VoiceRepository


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
    assigned_by: str | None  # 'auto' (matching linked it) or 'user'; None without a profile
    has_voice: bool  # it has a voice embedding: a profile can learn it, and matching can find it


@dataclass(frozen=True, slots=True)
class ProfileRef:
    profile_uuid: UUID | None


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


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A profile suggested for a speaker by voice matching, still open."""

    profile_uuid: UUID
    profile_name: str
    confidence: float
    assigned: bool  # the speaker is already linked to it (auto-assigned, awaiting the user's answer)


@dataclass(frozen=True, slots=True)
class SpeakerSummary:
    """One person across the user's files: a profile, else a display name, else a label."""

    name: str
    profile_uuid: UUID | None
    file_count: int
    speaker_count: int


@dataclass(frozen=True, slots=True)
class DeleteTarget:
    speaker_id: int
    profile_id: int | None
    segment_count: int
    target_id: int | None


@dataclass(frozen=True, slots=True)
class Decision:
    speaker_id: int
    profile_id: int
    taught_profile_id: int | None  # profile_id when the file's owner owns it: only then it re-learns
    previous_taught_id: int | None  # the profile linked before, when it was the owner's own


_list_for_file = s.many("speakers.list_for_file", Speaker)
_file_visible = s.scalar("segments.file_visible", bool)
_get = s.one("speakers.get", Speaker)
_update = s.one_or_none("speakers.update", Speaker)
_assign_profile = s.one_or_none("speakers.assign_profile", Speaker)
_lock_merge_pair = s.one_or_none("speakers.lock_merge_pair", MergePair)
_move_segments = s.execute("speakers.move_segments")
_move_matches = s.execute("speakers.move_matches")
_absorb_source = s.execute("speakers.absorb_source")
_speaker_visible = s.scalar("speakers.speaker_visible", bool)
_matches_for = s.many("speakers.matches_for", SpeakerMatch)
_create = s.one_or_none("speakers.create", Speaker)
_lock_for_delete = s.one_or_none("speakers.lock_for_delete", DeleteTarget)
_delete_by_id = s.execute("speakers.delete_by_id")
_suggestions = s.many("speakers.suggestions", Suggestion)
_decide = s.one_or_none("speakers.decide_suggestion", Decision)
_link_accepted = s.execute("speakers.link_accepted")
_unlink_rejected = s.execute("speakers.unlink_rejected")
_summary = s.many("speakers.summary", SpeakerSummary)
_remember_profile = s.one_or_none("speakers.remember_profile", ProfileRef)


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
        """Rename or verify; None leaves a field unchanged, "" clears a name. A change of `verified` re-learns the
        speaker's profile."""
        with self.conn.transaction():
            updated = _update(
                self.conn,
                speaker_uuid=speaker_uuid,
                display_name=display_name,
                suggested_name=suggested_name,
                verified=verified,
                **actor.scope(),
            )
            if updated is None:
                raise self._refused(actor, speaker_uuid)
            if verified is not None:
                voices = VoiceRepository(self.conn)
                voices.relearn([voices.profile_of(speaker_uuid)])
            return updated

    def assign_profile(self, actor: Actor, speaker_uuid: UUID, profile_uuid: UUID | None) -> Speaker:
        """Link the speaker to one of the owner's profiles (the user's link: matching never overrides it), or unlink
        it with None; both profiles re-learn when the speaker is verified."""
        voices = VoiceRepository(self.conn)
        with self.conn.transaction():
            before = voices.profile_of(speaker_uuid)
            found = _assign_profile(self.conn, speaker_uuid=speaker_uuid, profile_uuid=profile_uuid, **actor.scope())
            if found is None:
                access.require(self.conn, actor, access.EDITOR, what="speaker", speaker_uuid=speaker_uuid)
                raise NotFound("speaker profile not found")
            voices.relearn([before, voices.profile_of(speaker_uuid)])
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
            if pair is None:
                access.require(self.conn, actor, access.EDITOR, what="media file", file_uuid=file_uuid)
                raise NotFound("speaker not found")
            voices = VoiceRepository(self.conn)
            profiles = [voices.profile_of(source_speaker_uuid), voices.profile_of(target_speaker_uuid)]
            ids = {"source_id": pair.source_id, "target_id": pair.target_id}
            _move_segments(self.conn, **ids)
            _move_matches(self.conn, **ids)
            _absorb_source(self.conn, **ids)
            voices.relearn(profiles)
            return self.get(actor, target_speaker_uuid)

    def matches_for(self, actor: Actor, speaker_uuid: UUID) -> list[SpeakerMatch]:
        found = _matches_for(self.conn, speaker_uuid=speaker_uuid, **actor.scope())
        if not found and not _speaker_visible(self.conn, speaker_uuid=speaker_uuid, **actor.scope()):
            raise NotFound("speaker not found")
        return found

    def create(
        self, actor: Actor, file_uuid: UUID, label: str | None = None, display_name: str | None = None
    ) -> Speaker:
        """A speaker of the file with no segments yet; without a label it gets the next free SPEAKER_NN."""
        with self.conn.transaction():
            created = _create(self.conn, file_uuid=file_uuid, label=label, display_name=display_name, **actor.scope())
            if created is not None:
                return created
            access.require(self.conn, actor, access.EDITOR, what="media file", file_uuid=file_uuid)
            raise Conflict("this file already has a speaker with this label", "label")

    def delete(self, actor: Actor, speaker_uuid: UUID, move_segments_to: UUID | None = None) -> None:
        """Delete a speaker. Its segments (and matches) move to `move_segments_to`, a speaker of the same file;
        without one, a speaker that still has segments is refused (Conflict) rather than leaving them unlabelled."""
        if move_segments_to == speaker_uuid:
            raise Invalid("a speaker cannot take over its own segments", "move_segments_to")
        with self.conn.transaction():
            found = _lock_for_delete(
                self.conn, speaker_uuid=speaker_uuid, target_uuid=move_segments_to, **actor.scope()
            )
            if found is None:
                raise self._refused(actor, speaker_uuid)
            if move_segments_to is not None and found.target_id is None:
                raise NotFound("move_segments_to: no such speaker in this file", "move_segments_to")
            if found.target_id is not None:
                ids = {"source_id": found.speaker_id, "target_id": found.target_id}
                _move_segments(self.conn, **ids)
                _move_matches(self.conn, **ids)
            elif found.segment_count:
                raise Conflict(
                    f"the speaker still has {found.segment_count} segment(s): name a speaker of this file in "
                    "move_segments_to to take them over",
                    "move_segments_to",
                )
            _delete_by_id(self.conn, speaker_id=found.speaker_id)
            VoiceRepository(self.conn).relearn([found.profile_id])

    def suggestions(self, actor: Actor, speaker_uuid: UUID) -> list[Suggestion]:
        """The open profile suggestions for the speaker, best first; [] for a visible speaker without any."""
        found = _suggestions(self.conn, speaker_uuid=speaker_uuid, **actor.scope())
        if not found and not _speaker_visible(self.conn, speaker_uuid=speaker_uuid, **actor.scope()):
            raise NotFound("speaker not found")
        return found

    def accept_suggestion(self, actor: Actor, speaker_uuid: UUID, profile_uuid: UUID) -> Speaker:
        """The speaker is this profile's person: linked by the user, verified; the profiles involved re-learn."""
        with self.conn.transaction():
            decision = self._decide(actor, speaker_uuid, profile_uuid, "accepted")
            _link_accepted(self.conn, speaker_id=decision.speaker_id, profile_id=decision.profile_id)
            VoiceRepository(self.conn).relearn([decision.previous_taught_id, decision.taught_profile_id])
            return self.get(actor, speaker_uuid)

    def remember(self, actor: Actor, speaker_uuid: UUID, name: str | None = None) -> Speaker:
        """Remember this voice: the speaker is the person called `name` (default: its display name), so the file
        owner's profile of that name (created when there is none) is linked to it and verified, and learns its
        voice; later recordings of the same voice are recognised. The speaker takes the name when it has none."""
        chosen = (name if name is not None else self.get(actor, speaker_uuid).display_name or "").strip()
        if not chosen:  # the request is well formed; the speaker has no name yet: a conflict with its state
            raise Conflict("the speaker has no name: give one to remember the voice by", "name")
        with self.conn.transaction():
            found = _remember_profile(self.conn, speaker_uuid=speaker_uuid, name=chosen, **actor.scope())
            if found is None:
                raise self._refused(actor, speaker_uuid)
            if found.profile_uuid is None:  # another transaction took the name and then renamed it: rare, retryable
                raise Conflict("the speaker profile changed meanwhile; try again", "name")
            return self.accept_suggestion(actor, speaker_uuid, found.profile_uuid)

    def reject_suggestion(self, actor: Actor, speaker_uuid: UUID, profile_uuid: UUID) -> None:
        """The speaker is not this profile's person: remembered (never suggested again), and a link to it goes."""
        with self.conn.transaction():
            decision = self._decide(actor, speaker_uuid, profile_uuid, "rejected")
            _unlink_rejected(self.conn, speaker_id=decision.speaker_id, profile_id=decision.profile_id)
            VoiceRepository(self.conn).relearn([decision.taught_profile_id])

    def _decide(self, actor: Actor, speaker_uuid: UUID, profile_uuid: UUID, status: str) -> Decision:
        decision = _decide(
            self.conn, speaker_uuid=speaker_uuid, profile_uuid=profile_uuid, status=status, **actor.scope()
        )
        if decision is None:
            access.require(self.conn, actor, access.EDITOR, what="speaker", speaker_uuid=speaker_uuid)
            raise NotFound("speaker profile not found")
        return decision

    def _refused(self, actor: Actor, speaker_uuid: UUID) -> NotFound:
        """A write on a speaker matched no row: 404 when its file is unseen, 403 below the editor role (raised by
        repo/access.py); otherwise the speaker itself is gone (returned)."""
        access.require(self.conn, actor, access.EDITOR, what="speaker", speaker_uuid=speaker_uuid)
        return NotFound("speaker not found")

    def summary(self, actor: Actor, file_uuid: UUID | None = None) -> list[SpeakerSummary]:
        """The actor's own speakers across files, one entry per person with their file count (for filters);
        with `file_uuid`, only the people speaking in that file: one of the actor's, or one they may read (shared
        with them, as its page shows it; NotFound when they cannot see it)."""
        found = _summary(self.conn, file_uuid=file_uuid, **actor.scope())
        if file_uuid is not None and not found and not _file_visible(self.conn, file_uuid=file_uuid, **actor.scope()):
            raise NotFound("media file not found")
        return found
