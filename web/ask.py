"""Ask one's recordings: a question about one file, a collection or everything the asker can see → the passages
nearest it in meaning (repo/meaning.py, under the asker's access rules) → the asker's active LLM (llm/asking.py's
prompt) → an answer with citations, streamed as server-sent events or returned whole, then kept in the asker's
history (web/questions.py).

No transaction is held while the model answers (`in_transaction=False`): one short transaction checks the scope
and reads the LLM configuration, one retrieves, and one stores the answered question, in a single INSERT, once the
answer has ended. An LLM that fails, or a client that goes away before the end, leaves nothing stored.

A question spends the asker's LLM tokens like any other request (repo/llm_usage.py): their daily limit is checked
before the model is asked (429 with Retry-After), and the answer's cost is one ledger row, purpose "question",
written with the stored question (its uuid the row's subject), as the server reported it or estimated. An answer
that broke off after it began is recorded too, without a subject: the server spent the tokens all the same.

The stream (`text/event-stream`), one JSON object per event:
  passages  {"passages": [citation…]}           the candidates, numbered as the model sees them
  delta     {"text": "…"}                        the next piece of the answer
  done      {"question": QuestionOut}            stored: its uuid, the whole answer and the citations it made
  error     {"status": 502|504|…, "detail": "…"} the answer broke off; nothing was stored
Failures before the first piece of the answer (no model, the LLM unreachable, a timeout) are plain HTTP errors.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import StreamingResponse

from credentials.sealing import DecryptionError
from embeddings.models import EmbeddingModelMissing, load_encoder, model_name
from llm import clients as llm_clients
from llm import streaming
from llm.asking import SYSTEM_PROMPT, cited, user_prompt
from llm.clients import LlmError, LlmSettings
from outbound.addresses import BlockedUrl
from repo.collections import CollectionRepository
from repo.database import Connection
from repo.errors import Conflict, DataError, NotFound
from repo.llm_configs import LlmConfigRepository
from repo.llm_usage import LlmUsageRepository, TokenLimitReached, estimate_tokens
from repo.meaning import PassageHit, nearest_passages
from repo.media_files import MediaFileRepository
from repo.passages import vector_search_available
from repo.questions import MAX_QUESTION, Citation, QuestionRepository
from repo.rows import Actor
from web.endpoint import Ctx, Router
from web.errors import BadGateway, GatewayTimeout, Unprocessable, problem_of
from web.fields import NOT_BLANK, TRIMMED_NOT_BLANK
from web.questions import CitationOut, QuestionOut, question_out
from web.services import Services

router = Router("ask")
log = logging.getLogger(__name__)
PASSAGES = 8  # sent to the model: enough to answer from, few enough to stay well inside a small model's context
QuestionText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_QUESTION), NOT_BLANK, TRIMMED_NOT_BLANK]


def _not_both(schema: dict[str, Any]) -> None:
    """A file or a collection, not both: what the handler enforces, in the document."""
    both = {"file_uuid": {"type": "string"}, "collection_uuid": {"type": "string"}}
    schema["not"] = {"required": list(both), "properties": both}


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_not_both)
    question: QuestionText = Field(description=f"1 to {MAX_QUESTION} characters, in any language")
    file_uuid: UUID | None = Field(default=None, description="ask about this file only")
    collection_uuid: UUID | None = Field(default=None, description="ask about this collection only")
    stream: bool = Field(default=True, description="true: server-sent events as the answer is written; false: JSON")


class SearchByMeaningOff(Conflict):
    def __init__(self, why: str) -> None:
        super().__init__(f"search by meaning is off: {why} (README: Search by meaning)")


@dataclass(frozen=True)
class Scope:
    kind: str  # file | collection | all
    file_id: int | None = None
    collection_id: int | None = None


@dataclass(frozen=True)
class Prepared:
    scope: Scope
    llm: LlmSettings


@dataclass
class Spent:
    """One request to the asker's LLM: what was sent, when, and what the server said it cost."""

    sent: str
    started: float = field(default_factory=time.monotonic)
    usage: streaming.Usage = field(default_factory=streaming.Usage)
    recorded: bool = False


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _citation(number: int, hit: PassageHit) -> Citation:
    return Citation(number, hit.file_uuid, hit.title or hit.filename, hit.start_time, hit.end_time, hit.text)


def _scope(conn: Connection, actor: Actor, body: AskIn) -> Scope:
    """The file or collection named (404 when the asker cannot see it), then: naming both is refused."""
    file_id = collection_id = None
    if body.file_uuid is not None:
        file_id = MediaFileRepository(conn).get(actor, body.file_uuid).id
    if body.collection_uuid is not None:
        collection_id = CollectionRepository(conn).get(actor, body.collection_uuid).id
    if file_id is not None and collection_id is not None:
        raise Unprocessable("collection_uuid: ask about a file or a collection, not both", "collection_uuid")
    kind = "file" if file_id is not None else "collection" if collection_id is not None else "all"
    return Scope(kind, file_id, collection_id)


def _llm_settings(conn: Connection, services: Services, actor: Actor) -> LlmSettings:
    """The asker's active LLM configuration, as the summary worker builds it; 409 without one."""
    configs = LlmConfigRepository(conn, services.master_key)
    config = configs.active(actor)
    if config is None:
        raise Conflict("no LLM is configured: add one in Settings and make it active, then ask again")
    try:
        api_key = configs.api_key(actor, config.uuid)
    except DecryptionError:  # sealed under another master key
        raise Conflict("the stored api key of your LLM cannot be opened any more; enter it again") from None
    settings = services.settings
    try:  # checked at use, as the summary worker does
        llm_clients.check_allowed(llm_clients.endpoint_of(config), settings.llm_allowance)
    except BlockedUrl as exc:
        raise Conflict(f"the address of your LLM may not be used: {exc}") from None
    # a person is waiting: one attempt, and they may ask again
    return llm_clients.settings_of(config, api_key, settings.opentr_llm_timeout_seconds, max_attempts=1)


def _prepare(ctx: Ctx, actor: Actor, body: AskIn) -> Prepared:
    with ctx.services.db.transaction() as conn:
        scope = _scope(conn, actor, body)
        llm = _llm_settings(conn, ctx.services, actor)
        if not vector_search_available(conn):
            raise SearchByMeaningOff("this database has no pgvector extension")
    return Prepared(scope, llm)


def _retrieve(ctx: Ctx, actor: Actor, question: str, scope: Scope) -> list[PassageHit]:
    settings = ctx.services.settings
    try:
        encoder = load_encoder(settings)
    except EmbeddingModelMissing as exc:
        raise SearchByMeaningOff(str(exc)) from None
    vector = encoder.query(question)
    with ctx.services.db.transaction(read_only=True) as conn:
        hits = nearest_passages(
            conn,
            actor,
            [float(x) for x in vector],
            k=PASSAGES,
            model=model_name(settings),
            file_id=scope.file_id,
            collection_id=scope.collection_id,
        )
    if not hits:
        where = {"file": "this file", "collection": "this collection", "all": "your recordings"}[scope.kind]
        raise Conflict(
            f"nothing in {where} can be searched by meaning yet: transcripts are made searchable after they are "
            "transcribed; try again in a while"
        )
    return hits


def llm_failure(exc: LlmError) -> BadGateway | GatewayTimeout:
    if exc.timed_out:
        return GatewayTimeout(f"your LLM did not answer in time: {exc.message}")
    return BadGateway(f"your LLM did not give a usable answer: {exc.message}")


def _require_room(ctx: Ctx, actor: Actor, prompt: str) -> None:
    """TokenLimitReached (429) when the asker's daily limit leaves no room for this prompt."""
    with ctx.services.db.acting(actor), ctx.services.db.transaction() as conn:
        LlmUsageRepository(conn).require_room(actor.id, estimate_tokens(SYSTEM_PROMPT, prompt))


def _record(conn: Connection, actor: Actor, llm: LlmSettings, spent: Spent, answer: str, subject: UUID | None) -> None:
    LlmUsageRepository(conn).record(
        actor.id,
        "question",
        subject,
        llm.provider,
        llm.model_name,
        spent.usage.input_tokens,
        spent.usage.output_tokens,
        int((time.monotonic() - spent.started) * 1000),
        sent_text=SYSTEM_PROMPT + spent.sent,
        answer_text=answer,
    )


def _record_unanswered(ctx: Ctx, actor: Actor, prepared: Prepared, spent: Spent, answer: str) -> None:
    """The cost of an answer that was not stored (it broke off, or was empty): spent all the same."""
    if spent.recorded:
        return
    with ctx.services.db.acting(actor), ctx.services.db.transaction() as conn:
        _record(conn, actor, prepared.llm, spent, answer, None)
    spent.recorded = True


def _store(
    ctx: Ctx,
    actor: Actor,
    body: AskIn,
    prepared: Prepared,
    answer: str,
    candidates: list[Citation],
    spent: Spent,
) -> QuestionOut:
    """The whole answered question in one INSERT, and its cost in the ledger. Its citations are the answer's [n]
    among the candidates, the passages retrieved for this asker: a number the model made up, or read in a
    transcript, cites nothing."""
    citations = [candidates[n - 1] for n in cited(answer, len(candidates))]
    scope = prepared.scope
    with ctx.services.db.acting(actor), ctx.services.db.transaction() as conn:
        stored = QuestionRepository(conn).create(
            actor,
            scope=scope.kind,
            question=body.question,
            answer=answer,
            citations=citations,
            provider=prepared.llm.provider,
            model_name=prepared.llm.model_name,
            media_file_id=scope.file_id,
            collection_id=scope.collection_id,
        )
        _record(conn, actor, prepared.llm, spent, answer, stored.uuid)
    spent.recorded = True  # once committed: a failed commit leaves the cost to _record_unanswered
    return question_out(stored)


ASK_OPENAPI = {
    "responses": {
        "200": {
            "description": "stream=false: the stored question (JSON); stream=true: server-sent events `passages`, "
            "`delta`… then `done` (the stored question) or `error` (nothing stored); see web/ask.py",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/QuestionOut"}},
                "text/event-stream": {"schema": {"type": "string"}},
            },
        }
    }
}


@router.post(
    "/api/ask",
    body=AskIn,
    response=QuestionOut,
    in_transaction=False,
    raises=(NotFound, Conflict, TokenLimitReached, BadGateway, GatewayTimeout),
    openapi=ASK_OPENAPI,
)
def ask(ctx: Ctx, body: AskIn) -> QuestionOut | StreamingResponse:
    """Ask a question of one file, a collection or all you can see; answered by your LLM from the passages nearest
    it, citing them, in the question's language, and kept in your history (/api/questions). It counts against
    your daily LLM token limit (429 with Retry-After when that is used up)."""
    actor = ctx.actor
    prepared = _prepare(ctx, actor, body)
    candidates = [_citation(n, hit) for n, hit in enumerate(_retrieve(ctx, actor, body.question, prepared.scope), 1)]
    prompt = user_prompt(body.question, candidates)
    _require_room(ctx, actor, prompt)
    spent = Spent(prompt)
    pieces = streaming.stream(prepared.llm, SYSTEM_PROMPT, prompt, usage=spent.usage)
    if not body.stream:
        try:
            answer = "".join(pieces)
        except LlmError as exc:
            raise llm_failure(exc) from None
        if not answer.strip():
            _record_unanswered(ctx, actor, prepared, spent, answer)
            raise BadGateway("your LLM answered with nothing")
        return _store(ctx, actor, body, prepared, answer, candidates, spent)
    # The first piece is awaited here, so that an LLM that is down or silent is an HTTP error, as without streaming.
    try:
        first = next((piece for piece in pieces if piece), "")
    except LlmError as exc:
        raise llm_failure(exc) from None
    if not first:
        pieces.close()
        _record_unanswered(ctx, actor, prepared, spent, "")
        raise BadGateway("your LLM answered with nothing")
    listed = [CitationOut.model_validate(c, from_attributes=True).model_dump(mode="json") for c in candidates]

    def events() -> Iterator[bytes]:
        yield _event("passages", {"passages": listed})
        written = [first]
        yield _event("delta", {"text": first})
        try:
            for piece in pieces:
                written.append(piece)
                yield _event("delta", {"text": piece})
            stored = _store(ctx, actor, body, prepared, "".join(written), candidates, spent)
        except LlmError as exc:
            failure = llm_failure(exc)
            yield _event("error", {"status": failure.status, "detail": failure.detail})
            return
        except DataError as exc:  # e.g. the file was deleted while the answer was being written
            problem = problem_of(ctx.request, exc)
            yield _event("error", {"status": problem.status, "detail": problem.detail})
            return
        finally:  # also when the client went away and the server closes this generator: the LLM is let go
            pieces.close()
            try:
                _record_unanswered(ctx, actor, prepared, spent, "".join(written))
            except Exception:  # closing a generator must not fail (the app may be shutting down); logged instead
                log.warning("the cost of a question that broke off could not be recorded", exc_info=True)
        yield _event("done", {"question": stored.model_dump(mode="json")})

    # No caching by a proxy, and no buffering by nginx: the pieces should reach the page as they are written.
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
