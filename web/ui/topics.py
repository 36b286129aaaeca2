"""The file page's topics forms (templates/_topics.html): ask for the topics, stop a run, and the one-click
decisions on a topic's proposals. Each calls what the JSON API calls (web/topics.py, web/llm_runs.py) and comes
back to the page's topics.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from starlette.responses import Response

from repo.errors import Invalid
from repo.llm_runs import LlmRunRepository
from repo.media_files import MediaFileRepository
from repo.rows import Actor
from repo.topics import Topic, TopicRepository
from web.llm_runs import request_run
from web.ui.render import View, page


def _back(view: View) -> Response:
    return view.redirect(f"/files/{view.uuid('uuid')}#topics")


@page("/files/{uuid}/topics", methods=("POST",))
def extract(view: View) -> Response:
    """Ask the viewer's active LLM for the file's topics (as POST /api/files/{uuid}/topics)."""
    request_run(view, "topics", None)
    return _back(view)


@page("/files/{uuid}/topics/cancel", methods=("POST",))
def cancel(view: View) -> Response:
    """Stop the file's topics run (as POST /api/llm-runs/{uuid}/cancel)."""
    runs = LlmRunRepository(view.conn)
    run = runs.get(view.actor, view.chosen("run", "Run"))
    file = MediaFileRepository(view.conn).get(view.actor, view.uuid("uuid"))
    if run.kind != "topics" or run.media_file_id != file.id:
        raise Invalid("that run is not this file's topics run", "run")
    runs.request_cancel(view.actor, run.uuid)
    return _back(view)


def _decide(view: View, decision: Callable[[TopicRepository, Actor, UUID], Topic]) -> Response:
    topics = TopicRepository(view.conn)
    topic = topics.get(view.actor, view.uuid("topic"))
    if topic.file_uuid != view.uuid("uuid"):
        raise Invalid("that topic belongs to another file", "topic")
    decision(topics, view.actor, topic.uuid)
    return _back(view)


@page("/files/{uuid}/topics/{topic}/accept-tag", methods=("POST",))
def accept_tag(view: View) -> Response:
    """Add the topic's proposed tag to the file."""
    return _decide(view, TopicRepository.accept_tag)


@page("/files/{uuid}/topics/{topic}/accept-collection", methods=("POST",))
def accept_collection(view: View) -> Response:
    """Add the file to the viewer's collection of the proposed name."""
    return _decide(view, TopicRepository.accept_collection)


@page("/files/{uuid}/topics/{topic}/dismiss", methods=("POST",))
def dismiss(view: View) -> Response:
    """Dismiss the topic's open proposals."""
    return _decide(view, TopicRepository.dismiss)


ROUTES = [extract, cancel, accept_tag, accept_collection, dismiss]
