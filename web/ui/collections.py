"""Collections: list, create, rename, delete; a collection's page with its sharing (web/ui/sharing.py); a
collection's files are the library filtered by it."""

from __future__ import annotations

from starlette.responses import Response

from repo.collections import CollectionRepository
from repo.file_access import AccessRepository
from repo.retention import RetentionRepository
from web.ui.render import View, page
from web.ui.sharing import collection_panel


@page("/collections")
def collections(view: View) -> Response:
    """My collections and those shared with me (only mine can be renamed, deleted or shared)."""
    return view.render(
        "collections.html",
        collections=CollectionRepository(view.conn).list(view.actor),
        owned=AccessRepository(view.conn).owned_collections(view.actor),
    )


@page("/collections/{uuid}")
def collection(view: View) -> Response:
    """A collection's page: what it holds, and who it is shared with (its files, present and future, with them)."""
    uuid = view.uuid("uuid")
    found = CollectionRepository(view.conn).get(view.actor, uuid)
    access, share = collection_panel(view, uuid, found.name)
    retention = RetentionRepository(view.conn).collection_policy(view.actor, uuid)
    return view.render("collection.html", collection=found, share=share, retention=retention, owned=access.owned)


@page("/collections/new", methods=("POST",))
def create(view: View) -> Response:
    description = view.form.get("description", "").strip() or None
    CollectionRepository(view.conn).create(view.actor, view.field("name", label="Name"), description)
    return view.redirect("/collections")


@page("/collections/{uuid}/edit", methods=("POST",))
def edit(view: View) -> Response:
    description = view.form.get("description", "").strip()
    CollectionRepository(view.conn).update(
        view.actor, view.uuid("uuid"), name=view.field("name", label="Name"), description=description
    )
    return view.redirect("/collections")


@page("/collections/{uuid}/delete", methods=("POST",))
def delete(view: View) -> Response:
    CollectionRepository(view.conn).delete(view.actor, view.uuid("uuid"))
    return view.redirect("/collections")


ROUTES = [collections, create, collection, edit, delete]
