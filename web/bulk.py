"""Bulk actions on files: delete, reprocess, tag, untag, add to a collection; up to 500 files in one transaction.

The answer lists every requested file with its outcome (done, unchanged, not_found, forbidden, conflict); files the
caller cannot see are reported as not found, files shared with them at a role below the action's as forbidden, and
neither is ever touched. Stored media of deleted files and the jobs of reprocessed
ones are handled only after the commit.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from jobs import dispatch
from repo.bulk import MAX_FILES, BulkRepository, FileOutcome
from repo.errors import Conflict, NotFound
from web.audit_trail import audit
from web.endpoint import Ctx, Router
from web.files import remove_after_commit
from web.tags import TagName

router = Router("bulk")
Action = Literal["delete", "reprocess", "add_tag", "remove_tag", "add_to_collection"]


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Action
    file_uuids: list[UUID] = Field(min_length=1, max_length=MAX_FILES)
    tag: TagName | None = Field(default=None, description="add_tag, remove_tag: the tag's name")
    collection_uuid: UUID | None = Field(default=None, description="add_to_collection: one of your collections")


class FileOutcomeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    outcome: Literal["done", "unchanged", "not_found", "forbidden", "conflict"] = Field(
        description="done; unchanged (nothing to do); not_found: no file you can see; forbidden: a file shared "
        "with you at a role below the action's (tagging needs editor, deleting the owner), left untouched; "
        "conflict: its state does not allow it (detail says why)"
    )
    detail: str


class BulkOut(BaseModel):
    action: Action
    counts: dict[str, int] = Field(description="how many files had each outcome")
    results: list[FileOutcomeOut] = Field(description="every requested file once, in request order")
    forbidden: list[UUID] = Field(
        description="the files you can see but may not act on this way (their outcome is forbidden), untouched; "
        "files you cannot see are not_found instead"
    )


@router.post("/api/files/bulk", body=BulkIn, response=BulkOut)
def bulk(ctx: Ctx, body: BulkIn) -> BulkOut:
    """Apply one action to many files in one transaction; every file's outcome comes back, in request order."""
    uuids = list(dict.fromkeys(body.file_uuids))
    repository, actor = BulkRepository(ctx.conn), ctx.actor
    outcomes: list[FileOutcome]
    if body.action in ("add_tag", "remove_tag"):
        if body.tag is None:
            raise Conflict(f"tag: required for {body.action}", "tag")
        change = repository.add_tag if body.action == "add_tag" else repository.remove_tag
        outcomes = change(actor, uuids, body.tag)
    elif body.action == "add_to_collection":
        if body.collection_uuid is None:
            raise Conflict("collection_uuid: required for add_to_collection", "collection_uuid")
        try:
            outcomes = repository.add_to_collection(actor, uuids, body.collection_uuid)
        except NotFound as exc:  # the body names it: a reference to nothing of yours
            raise Conflict(exc.detail, exc.field or "collection_uuid") from None
    elif body.action == "delete":
        outcomes, storage_paths = repository.delete(actor, uuids)
        for o in outcomes:  # each file deleted, and each the caller may not delete, on the audit trail
            if o.outcome in ("done", "forbidden"):
                audit(
                    ctx,
                    "file.delete",
                    outcome="success" if o.outcome == "done" else "refused",
                    object_type="file",
                    object_id=o.uuid,
                    details={"bulk": True},
                )
        remove_after_commit(ctx, storage_paths)
    else:
        ctx.services.require_redis()
        outcomes, moved = repository.reprocess(actor, uuids)
        queued = [(file.id, dispatch.queue_processing(ctx.conn, file.id, file.user_id)) for file in moved]
        redis = ctx.services.redis

        def enqueue() -> None:
            for file_id, task_id in queued:
                dispatch.enqueue_processing(redis, file_id, task_id)

        ctx.after_commit(enqueue)
    counts = Counter(o.outcome for o in outcomes)
    return BulkOut(
        action=body.action,
        counts=dict(sorted(counts.items())),
        results=[FileOutcomeOut.model_validate(o) for o in outcomes],
        forbidden=[o.uuid for o in outcomes if o.outcome == "forbidden"],
    )
