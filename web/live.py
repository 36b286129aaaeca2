"""Live notifications: one LISTEN connection per web process fans `pg_notify` events out to WebSockets.

A client connects to `WS /api/ws/notifications` with its token (`?token=` or a first message `{"token": ...}`),
receives every unread notification, then each new one as it is committed, and only its own: `{"type":
"notification", "notification": {...}}`. A job's progress comes the same way as `{"type": "progress", "progress":
{"file_uuid", "task_id", "step", "progress"}}`, live only: it is not stored, so a page opened later reads the file's
progress from the file itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import anyio
import psycopg
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from repo.notifications import CHANNEL, PROGRESS_EVENT, Notification, NotificationRepository
from repo.rows import Actor
from repo.users import User, UserRepository
from web import sessions
from web.notifications import NotificationOut
from web.services import Services

log = logging.getLogger("opentr.web.live")
AUTH_TIMEOUT = 10.0
CLOSE_UNAUTHORIZED = 4401
RESYNC = None  # queued after a reconnect: the socket re-reads what is unread, as events may have been missed
# Reconnect attempts: quick at first, then every RECONNECT_MAX s however long the outage, so live pages resync
# within about that long of the database answering (a failed connect to a down server costs next to nothing).
RECONNECT_FIRST, RECONNECT_MAX = 0.1, 0.5


@dataclass(frozen=True, slots=True)
class Progress:
    """A job's step, as announced (repo/notifications.py): passed on to the owner's sockets as it came."""

    body: dict[str, Any]


Event = Notification | Progress | None


class LiveHub:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.subscribers: dict[int, set[asyncio.Queue[Event]]] = {}
        self.listening = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self, user_id: int) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)
        self.subscribers.setdefault(user_id, set()).add(queue)
        return queue

    def unsubscribe(self, user_id: int, queue: asyncio.Queue[Event]) -> None:
        queues = self.subscribers.get(user_id, set())
        queues.discard(queue)
        if not queues:
            self.subscribers.pop(user_id, None)

    async def _listen(self) -> None:
        delay, lost_at = RECONNECT_FIRST, None
        while True:
            reason = "the server closed it"
            try:
                # LISTEN is refused on a standby: with a failover pair in the URL, only the writable host will do.
                async with await psycopg.AsyncConnection.connect(
                    self.services.db.direct_url, autocommit=True, target_session_attrs="read-write"
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening, delay = True, RECONNECT_FIRST
                    if lost_at is not None:
                        log.warning("notification listener listening again after %.1f s", time.monotonic() - lost_at)
                        lost_at = None
                    self._broadcast(RESYNC)
                    async for event in conn.notifies():
                        await self._dispatch(event.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: keep retrying, sockets resync afterwards
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.listening = False
            if lost_at is None:  # one line per outage, not one per attempt
                lost_at = time.monotonic()
                log.warning("notification listener lost its connection (%s); reconnecting", reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    def _broadcast(self, item: Event) -> None:
        for queues in self.subscribers.values():
            for queue in queues:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(item)

    async def _dispatch(self, payload: str) -> None:
        try:
            event = json.loads(payload)
            user_id = int(event["user_id"])
            progress = event.get("event") == PROGRESS_EVENT
            uuid = None if progress else UUID(event["uuid"])
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring a malformed notification event")
            return
        queues = self.subscribers.get(user_id)
        if not queues:
            return
        item: Event
        if uuid is None:
            item = Progress({k: event.get(k) for k in ("file_uuid", "task_id", "step", "progress")})
        else:
            item = await anyio.to_thread.run_sync(self._read, user_id, uuid)
        for queue in list(queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(item)

    def _read(self, user_id: int, uuid: UUID) -> Notification:
        db = self.services.db
        with db.acting(Actor(user_id)), db.transaction() as conn:
            return NotificationRepository(conn).get(Actor(user_id), uuid)

    def unread(self, user_id: int) -> list[Notification]:
        db = self.services.db
        with db.acting(Actor(user_id)), db.transaction() as conn:
            return list(reversed(NotificationRepository(conn).list(Actor(user_id), unread_only=True, limit=200)))

    def authenticate(self, token: str) -> User | None:
        # users and auth_tokens have no RLS (migration 0014): authentication comes before anybody acts.
        with self.services.db.acting_as_system(), self.services.db.transaction() as conn:
            user = UserRepository(conn).user_for_token(token)
        if user is not None and user.touch_due:
            with self.services.db.acting_as_system(), self.services.db.transaction() as conn:
                UserRepository(conn).touch_token(token)
        return user


async def _token(websocket: WebSocket) -> str | None:
    token = websocket.query_params.get("token")
    if token:
        return token
    if (cookie := sessions.session_token(websocket) if sessions.same_origin(websocket) else None) is not None:
        return cookie  # a signed-in browser page
    try:
        message = await asyncio.wait_for(websocket.receive_json(), AUTH_TIMEOUT)
    except (TimeoutError, ValueError, WebSocketDisconnect, KeyError):
        return None
    return message.get("token") if isinstance(message, dict) and isinstance(message.get("token"), str) else None


async def notifications_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    hub: LiveHub = websocket.app.state.live
    token = await _token(websocket)
    user = await anyio.to_thread.run_sync(hub.authenticate, token) if token else None
    if user is None:
        await websocket.send_json({"type": "error", "detail": "not authenticated"})
        await websocket.close(CLOSE_UNAUTHORIZED)
        return
    queue = hub.subscribe(user.id)
    sent: set[UUID] = set()

    async def send(notification: Notification) -> None:
        if notification.uuid not in sent:
            sent.add(notification.uuid)
            body = NotificationOut.model_validate(notification).model_dump(mode="json")
            await websocket.send_json({"type": "notification", "notification": body})

    async def send_unread() -> None:
        for notification in await anyio.to_thread.run_sync(hub.unread, user.id):
            await send(notification)

    async def until_disconnect() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    closed = asyncio.get_running_loop().create_task(until_disconnect())
    try:
        await send_unread()
        while not closed.done():
            getter = asyncio.get_running_loop().create_task(queue.get())
            done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            item = getter.result()
            if item is RESYNC:
                await send_unread()
            elif isinstance(item, Progress):
                await websocket.send_json({"type": "progress", "progress": item.body})
            else:
                await send(item)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away while we were sending
    finally:
        hub.unsubscribe(user.id, queue)
        closed.cancel()


ROUTES = [WebSocketRoute("/api/ws/notifications", notifications_socket)]
