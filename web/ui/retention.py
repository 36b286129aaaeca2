"""Retention and legal hold on the pages: the admin page's section (the default period, the holds, the dry run's
list) and a collection's policy on its page. Each form calls what the API calls (web/retention.py), audited alike.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.responses import Response

from repo.errors import Invalid
from repo.retention import MAX_DAYS, RetentionRepository
from web.retention import (
    HoldIn,
    change_collection_policy,
    change_instance_policy,
    lift,
    place,
    read_preview,
)
from web.ui.render import View, page


def _days(view: View, name: str, label: str) -> int | None:
    """A form's period: blank keeps recordings (None), else a whole number of days from 1 to MAX_DAYS."""
    raw = view.field(name, required=False)
    if not raw:
        return None
    if not raw.isdecimal() or not 1 <= int(raw) <= MAX_DAYS:
        raise Invalid(f"{label}: a whole number of days from 1 to {MAX_DAYS}, or blank to keep recordings", name)
    return int(raw)


def admin_section(view: View) -> dict[str, Any]:
    """What the admin page shows of retention (web/ui/admin.py)."""
    retention = RetentionRepository(view.conn)
    return {
        "retention": retention.instance_policy(),
        "retention_preview": read_preview(view),
        "holds": retention.holds(active_only=True),
        "notice_days": view.services.settings.opentr_retention_notice_days,
    }


@page("/admin/retention", methods=("POST",), admin=True)
def set_default(view: View) -> Response:
    change_instance_policy(view, _days(view, "default_days", "Retention period"))
    return view.redirect("/admin#retention")


@page("/admin/holds", methods=("POST",), admin=True)
def place_hold(view: View) -> Response:
    target = view.field("object_uuid", label="File or collection id")
    try:
        uuid = UUID(target)
    except ValueError:
        raise Invalid("File or collection id: not a valid id", "object_uuid") from None
    kind = view.field("object_type", label="What to hold")
    if kind not in ("file", "collection"):
        raise Invalid("What to hold: a file or a collection", "object_type")
    reason = view.field("reason", label="Reason")
    body = HoldIn(file_uuid=uuid, reason=reason) if kind == "file" else HoldIn(collection_uuid=uuid, reason=reason)
    place(view, body)
    return view.redirect("/admin#retention")


@page("/admin/holds/{hold_uuid}/lift", methods=("POST",), admin=True)
def lift_hold(view: View) -> Response:
    lift(view, view.uuid("hold_uuid"))
    return view.redirect("/admin#retention")


@page("/collections/{uuid}/retention", methods=("POST",))
def set_collection_policy(view: View) -> Response:
    uuid = view.uuid("uuid")
    change_collection_policy(view, uuid, _days(view, "days", "Retention period"))
    return view.redirect(f"/collections/{uuid}#retention")


ROUTES = [set_default, place_hold, lift_hold, set_collection_policy]
