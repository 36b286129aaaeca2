"""The file page: player, waveform, transcript with speakers, suggestions, analytics, tags, comments, summaries,
exports; and its forms.

The page's script edits segments, requests summaries, retries and deletes through the JSON API (same routes,
cookie + CSRF header); the forms here cover what works without a script: tags, comments, speaker names (with
"remember this voice": the profile of that name learns it) and merges, linking a speaker to a profile,
suggestions (a speaker's suggested name, and the voice-matched profiles of GET /api/speakers/{uuid}/suggestions,
with their similarity), collections, and a segment's text. Exports are a plain GET form to
/api/files/{uuid}/export.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from starlette.responses import Response

from repo.analytics import AnalyticsRepository
from repo.collections import Collection, CollectionRepository
from repo.comments import CommentRepository
from repo.errors import Forbidden, Invalid, Stale
from repo.file_access import AccessRepository
from repo.media_files import MediaFileRepository
from repo.prompts import PromptRepository
from repo.public_links import PublicLink, PublicLinkRepository
from repo.retention import RetentionRepository
from repo.segments import SegmentRepository
from repo.speaker_profiles import SpeakerProfileRepository
from repo.speakers import SpeakerRepository
from repo.summaries import SummaryRepository
from repo.tags import TagRepository
from transcript.choices import STAGES, Stage
from transcript.segments import TranscriptSegment
from web import preconditions
from web.choices import file_choices
from web.exports import MEDIA_TYPES
from web.processing import run_stage
from web.public_links import link_status
from web.transcripts import embed_again_after_commit
from web.ui import speaker_names_panel, summary_shapes, topics_panel, translations_panel
from web.ui.render import View, page
from web.ui.sharing import file_panel

SPEAKER_COLOURS = 8
IN_PROGRESS = ("pending", "queued", "processing", "cancelling")
PROFILE_CHOICES = 500  # the profiles a speaker can be linked to from its card (the speakers page shows as many)


def _back(view: View, anchor: str = "") -> Response:
    return view.redirect(f"/files/{view.uuid('uuid')}{anchor}")


def _timestamp(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def clickable_words(segment: TranscriptSegment) -> list[dict[str, Any]] | None:
    """The segment's timed words, unless its text was corrected since (the words would show the old text)."""
    words = segment.words or []
    if not words or any(not isinstance(w.get("word"), str) for w in words):
        return None
    return words if " ".join(w["word"] for w in words).split() == segment.text.split() else None


def _my_collections(view: View) -> list[Collection]:
    """The collections a file can be added to: the actor's own (the list also holds those shared with them)."""
    owned = AccessRepository(view.conn).owned_collections(view.actor)
    return [c for c in CollectionRepository(view.conn).list(view.actor) if c.uuid in owned]


@page("/files/{uuid}")
def file_page(view: View) -> Response:
    return _file_page(view)


def _file_page(view: View, status: int = 200, stale: StaleEdit | None = None, new_link: str | None = None) -> Response:
    """The page; with `stale`, the segment edit that was refused: shown beside the newer text it met; with
    `new_link`, the address of the public link just made (shown this once: only its hash is kept)."""
    actor, uuid = view.actor, view.uuid("uuid")
    links = _owned_links(view, uuid)
    detail = MediaFileRepository(view.conn).detail(actor, uuid)
    speakers = SpeakerRepository(view.conn).list_for_file(actor, uuid)
    segments = SegmentRepository(view.conn).transcript(actor, uuid)
    colour = {s.uuid: index % SPEAKER_COLOURS for index, s in enumerate(speakers)}
    speaker_repo = SpeakerRepository(view.conn)
    total_talk = sum(s.talk_time for s in speakers) or 1.0
    prompts = PromptRepository(view.conn).list(actor)
    access, share = file_panel(view, uuid, detail.title or detail.filename)
    context: dict[str, Any] = {
        "file": detail,
        "media_kind": "video" if detail.content_type.startswith("video/") else "audio",
        "in_progress": detail.status in IN_PROGRESS,
        "segments": segments,
        "words": {seg.uuid: clickable_words(seg) for seg in segments},
        "speakers": speakers,
        "colour": colour,
        "talk_share": {s.uuid: s.talk_time / total_talk for s in speakers},
        "comments": CommentRepository(view.conn).list_for_file(actor, uuid),
        "summaries": SummaryRepository(view.conn).list_for_file(actor, uuid, limit=10),
        "collections": _my_collections(view) if access.owned else [],
        "start": _timestamp(view.query("t")),
        "suggestions": {s.uuid: speaker_repo.suggestions(actor, s.uuid) for s in speakers},
        "profiles": SpeakerProfileRepository(view.conn).list_mine(actor, limit=PROFILE_CHOICES) if speakers else [],
        "analytics": AnalyticsRepository(view.conn).for_file(actor, uuid),
        "export_formats": list(MEDIA_TYPES),
        "choices": file_choices(view.conn, actor, uuid, detail.id),
        "prompts": prompts,
        "prompt_names": {p.uuid: p.name for p in prompts},
        "stale": stale,
        # the controls follow the role: a viewer reads, a commenter also comments, an editor also edits; deleting
        # and sharing are the owner's (what is allowed is still each query's to decide)
        "can": {"comment": access.can_comment, "edit": access.can_edit, "own": access.owned},
        "share": share,
        "links": links,
        "link_states": {link.uuid: link_status(link) for link in links or []},
        "new_link": new_link,
        # when the recording is deleted, or the hold that keeps it: its owner's to see (repo/retention.py)
        "retention": RetentionRepository(view.conn).file_schedule(actor, uuid) if access.owned else None,
    }
    # What a language model made of the transcript (step 21): one module per panel, each with its own template.
    for panel in (topics_panel, speaker_names_panel, translations_panel):
        context.update(panel.panel(view, detail))
    context.update(summary_shapes.panel(view, detail, context["summaries"]))  # summaries in their shapes
    return view.render("file.html", status, **context)


def _owned_links(view: View, uuid: UUID) -> list[PublicLink] | None:
    """The file's public links for its owner; None for someone it is shared with (links are the owner's)."""
    try:
        return PublicLinkRepository(view.conn).list_for_file(view.actor, uuid)
    except Forbidden:
        return None


def file_page_with_link(view: View, new_link: str) -> Response:
    return _file_page(view, 201, new_link=new_link)


@page("/files/{uuid}/tags", methods=("POST",))
def add_tag(view: View) -> Response:
    TagRepository(view.conn).attach(view.actor, view.uuid("uuid"), view.field("name", label="Tag"))
    return _back(view, "#tags")


@page("/files/{uuid}/tags/remove", methods=("POST",))
def remove_tag(view: View) -> Response:
    TagRepository(view.conn).detach(view.actor, view.uuid("uuid"), view.field("name", label="Tag"))
    return _back(view, "#tags")


@page("/files/{uuid}/comments", methods=("POST",))
def add_comment(view: View) -> Response:
    at = _timestamp(view.form.get("timestamp", ""))
    CommentRepository(view.conn).create(view.actor, view.uuid("uuid"), view.field("text", label="Comment"), at)
    return _back(view, "#comments")


@page("/files/{uuid}/comments/{comment}/delete", methods=("POST",))
def delete_comment(view: View) -> Response:
    CommentRepository(view.conn).delete(view.actor, view.uuid("comment"))
    return _back(view, "#comments")


@page("/files/{uuid}/speakers/{speaker}", methods=("POST",))
def rename_speaker(view: View) -> Response:
    """Rename; an empty name goes back to the label. `accept`/`reject` act on the speaker's suggested name."""
    speakers, speaker = SpeakerRepository(view.conn), view.uuid("speaker")
    action = view.form.get("action", "rename")
    current = speakers.get(view.actor, speaker)
    if current.media_file_uuid != view.uuid("uuid"):
        raise Invalid("that speaker belongs to another file", "speaker")
    if action == "accept" and current.suggested_name:
        speakers.update(view.actor, speaker, display_name=current.suggested_name, suggested_name="")
    elif action == "reject":
        speakers.update(view.actor, speaker, suggested_name="")
    else:
        name = view.form.get("display_name", "").strip()
        remember = bool(view.form.get("remember"))
        if remember and not name:
            raise Invalid("name: give the speaker a name to remember the voice by", "display_name")
        speakers.update(view.actor, speaker, display_name=name)
        if remember:  # "remember this voice": the profile of that name learns it
            speakers.remember(view.actor, speaker, name)
    return _back(view, "#speakers")


@page("/files/{uuid}/speakers/{speaker}/profile", methods=("POST",))
def link_profile(view: View) -> Response:
    """Link the speaker to one of the user's profiles (the user's answer: verified, and the profile learns the
    voice), or unlink it."""
    speakers, speaker = SpeakerRepository(view.conn), view.uuid("speaker")
    if speakers.get(view.actor, speaker).media_file_uuid != view.uuid("uuid"):
        raise Invalid("that speaker belongs to another file", "speaker")
    if view.form.get("action") == "unlink":
        speakers.assign_profile(view.actor, speaker, None)
    else:
        speakers.accept_suggestion(view.actor, speaker, view.chosen("profile", "Profile"))
    return _back(view, "#speakers")


@page("/files/{uuid}/speakers/{speaker}/suggestions/{profile}", methods=("POST",))
def answer_suggestion(view: View) -> Response:
    """Accept (link and verify; the profile learns the voice) or reject (never suggested again) a profile."""
    speakers, speaker, profile = SpeakerRepository(view.conn), view.uuid("speaker"), view.uuid("profile")
    if speakers.get(view.actor, speaker).media_file_uuid != view.uuid("uuid"):
        raise Invalid("that speaker belongs to another file", "speaker")
    if view.form.get("action") == "accept":
        speakers.accept_suggestion(view.actor, speaker, profile)
    else:
        speakers.reject_suggestion(view.actor, speaker, profile)
    return _back(view, "#speakers")


@page("/files/{uuid}/speakers-merge", methods=("POST",))
def merge_speakers(view: View) -> Response:
    source = view.chosen("source", "Speaker to merge")
    target = view.chosen("target", "Speaker to keep")
    SpeakerRepository(view.conn).merge(view.actor, view.uuid("uuid"), source, target)
    embed_again_after_commit(view, view.uuid("uuid"))  # turns changed: passages are cut at turns
    return _back(view, "#speakers")


@dataclass(frozen=True, slots=True)
class StaleEdit:
    """A segment edit refused because someone changed the segment after the page was shown: the text that was not
    saved, kept so that the person can redo it over the newer text."""

    segment_uuid: UUID
    unsaved_text: str


def _form_version(raw: str | None) -> list[int] | None:
    """The version the form was rendered with (its hidden field), as an If-Match would give it: absent (an older
    page) means any version; anything but a version number matches none."""
    if raw is None:
        return None
    return [int(raw)] if raw.isdigit() and 0 < int(raw) < 2**31 else [preconditions.NO_VERSION]


@page("/files/{uuid}/segments/{segment}", methods=("POST",))
def edit_segment(view: View) -> Response:
    """The no-script way to correct a segment (the page's script uses the API route instead). Someone else's change
    since the page was shown is not overwritten: the page comes back (412) with their text and the unsaved one."""
    speaker = view.form.get("speaker_uuid", "").strip()
    text = view.field("text", label="Segment text")
    try:
        SegmentRepository(view.conn).update_segment(
            view.actor,
            view.uuid("uuid"),
            view.uuid("segment"),
            text=text,
            speaker_uuid=view.chosen("speaker_uuid", "Speaker") if speaker else None,
            if_versions=_form_version(view.form.get("version")),
        )
    except Stale:
        return _file_page(view, 412, StaleEdit(view.uuid("segment"), text))
    embed_again_after_commit(view, view.uuid("uuid"))
    return _back(view, f"#seg-{view.uuid('segment')}")


@page("/files/{uuid}/collections", methods=("POST",))
def add_to_collection(view: View) -> Response:
    collection = view.chosen("collection", "Collection")
    CollectionRepository(view.conn).add_files(view.actor, collection, [view.uuid("uuid")])
    return _back(view, "#collections")


@page("/files/{uuid}/rerun", methods=("POST",))
def rerun(view: View) -> Response:
    """The no-script way to re-run one stage (the same checks as POST /api/files/{uuid}/rerun)."""
    stage = view.field("stage", label="Stage")
    if stage not in STAGES:
        raise Invalid(f"stage: one of {', '.join(STAGES)}", "stage")
    prompt = view.form.get("summary_prompt", "").strip()
    given = {"summary_prompt": prompt} if prompt and stage == "summary" else {}
    run_stage(view, view.uuid("uuid"), cast(Stage, stage), given)
    return _back(view, "#processing")


ROUTES = [
    file_page,
    rerun,
    add_tag,
    remove_tag,
    add_comment,
    delete_comment,
    rename_speaker,
    link_profile,
    answer_suggestion,
    merge_speakers,
    edit_segment,
    add_to_collection,
]
