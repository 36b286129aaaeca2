"""Speaker profiles (the people recognised across recordings): list them with the files they are heard in, their
talk time and a sample of their voice; create, rename, merge two, delete. A profile is made from a speaker on the
file page ("remember this voice", web/ui/media.py) or here by name, then linked to speakers there.

The sample plays with the browser's own controls: an <audio> of the file's content route with a media fragment
(`#t=start,end`, one of the person's longest segments), so nothing is cut or stored; the content route answers
range requests, so only that stretch is fetched.
"""

from __future__ import annotations

from starlette.responses import Response

from repo.file_access import AccessRepository
from repo.groups import GroupRepository
from repo.speaker_profiles import SpeakerProfileRepository
from web.ui.render import View, page

MAX_PROFILES = 500  # one page: the API pages by name (GET /api/speaker-profiles?after=) for anyone with more


@page("/speakers")
def profiles(view: View) -> Response:
    """Your speaker profiles, and those shared with you."""
    repo = SpeakerProfileRepository(view.conn)
    found = repo.list_mine(view.actor, limit=MAX_PROFILES)
    access = AccessRepository(view.conn)
    return view.render(
        "speakers.html",
        profiles=found,
        samples=repo.samples(view.actor, [p.uuid for p in found]),
        more=len(found) == MAX_PROFILES,
        # profiles shared with me are listed to be used (naming speakers), not changed; mine can be shared
        owned=access.owned_profiles(view.actor),
        shares=access.profile_shares(view.actor),
        groups=GroupRepository(view.conn).list(view.actor),
    )


@page("/speakers/new", methods=("POST",))
def create(view: View) -> Response:
    created = SpeakerProfileRepository(view.conn).create(view.actor, view.field("name", label="Name"))
    return view.redirect(f"/speakers#profile-{created.uuid}")


@page("/speakers/{uuid}/edit", methods=("POST",))
def rename(view: View) -> Response:
    profile = view.uuid("uuid")
    SpeakerProfileRepository(view.conn).update(view.actor, profile, name=view.field("name", label="Name"))
    return view.redirect(f"/speakers#profile-{profile}")


@page("/speakers/{uuid}/merge", methods=("POST",))
def merge(view: View) -> Response:
    """Merge the chosen profile into this one."""
    profile = view.uuid("uuid")
    source = view.chosen("source", "Profile to merge")
    SpeakerProfileRepository(view.conn).merge(view.actor, profile, source)
    return view.redirect(f"/speakers#profile-{profile}")


@page("/speakers/{uuid}/delete", methods=("POST",))
def delete(view: View) -> Response:
    SpeakerProfileRepository(view.conn).delete(view.actor, view.uuid("uuid"))
    return view.redirect("/speakers")


ROUTES = [profiles, create, rename, merge, delete]
