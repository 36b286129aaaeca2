from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest
from starlette.websockets import WebSocketDisconnect

from repo.notifications import NotificationRepository
from tests import factories
from tests.web import actor_of, register


def _notify(conninfo: str, user_id: int, title: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        NotificationRepository(conn).notify(user_id, "system", title)


def _wait_listening(client: Any) -> None:
    deadline = time.monotonic() + 10
    while not client.app.state.live.listening:
        assert time.monotonic() < deadline, "the notification listener never connected"
        time.sleep(0.05)


def _wait_subscribed(client: Any, user_id: int) -> None:
    deadline = time.monotonic() + 10
    while not client.app.state.live.subscribers.get(user_id):
        assert time.monotonic() < deadline, "the socket never subscribed"
        time.sleep(0.02)


def test_unread_on_connect_then_live_and_only_its_own(client: Any, fresh_url: str) -> None:
    alice, bob = register(client), register(client)
    alice_id, bob_id = actor_of(client, fresh_url, alice).id, actor_of(client, fresh_url, bob).id
    _notify(fresh_url, alice_id, "before connecting")
    _wait_listening(client)
    token = alice["Authorization"].split()[1]
    with client.websocket_connect(f"/api/ws/notifications?token={token}") as ws:
        first = ws.receive_json()
        assert first["type"] == "notification" and first["notification"]["title"] == "before connecting"
        assert "user_id" not in first["notification"] and "id" not in first["notification"]
        _notify(fresh_url, bob_id, "for bob only")
        _notify(fresh_url, alice_id, "live one")
        assert ws.receive_json()["notification"]["title"] == "live one"


def test_progress_comes_live_to_its_owner_only_and_is_not_replayed(client: Any, fresh_url: str) -> None:
    """A job's step goes to the owner's open pages as `progress`, not as a notification: a socket opened later does
    not get it again, and the count of new notifications stays 0."""
    alice, bob = register(client), register(client)
    owner, bob_id = actor_of(client, fresh_url, alice), actor_of(client, fresh_url, bob).id
    alice_id = owner.id
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, filename="会議 🎙️ Müller.wav")
    _wait_listening(client)
    token = alice["Authorization"].split()[1]
    with client.websocket_connect(f"/api/ws/notifications?token={token}") as ws:
        # Progress is live only: sent before the socket has subscribed (the connect returns at the accept, before
        # the token is checked), it would be missed and the receive below would wait forever.
        _wait_subscribed(client, alice_id)
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            NotificationRepository(conn).progress(bob_id, "for bob only", 0.5)
            NotificationRepository(conn).progress(alice_id, "computed the waveform", 0.3, file_id)
        message = ws.receive_json()
    assert message == {
        "type": "progress",
        "progress": {"file_uuid": str(file_uuid), "task_id": None, "step": "computed the waveform", "progress": 0.3},
    }
    _notify(fresh_url, alice_id, "after")
    with client.websocket_connect(f"/api/ws/notifications?token={token}") as ws:
        assert ws.receive_json()["notification"]["title"] == "after", "the step was not stored, so not replayed"
    assert client.get("/api/notifications", headers=alice).json()["unread_count"] == 1


def test_token_may_come_as_the_first_message(client: Any, fresh_url: str) -> None:
    headers = register(client)
    _notify(fresh_url, actor_of(client, fresh_url, headers).id, "hello")
    with client.websocket_connect("/api/ws/notifications") as ws:
        ws.send_json({"token": headers["Authorization"].split()[1]})
        assert ws.receive_json()["notification"]["title"] == "hello"


@pytest.mark.parametrize("query", ["", "?token=wrong"])
def test_bad_or_missing_token_closes_the_socket(client: Any, query: str) -> None:
    with client.websocket_connect(f"/api/ws/notifications{query}") as ws:
        if not query:
            ws.send_json({"token": 42})
        assert ws.receive_json() == {"type": "error", "detail": "not authenticated"}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401


def test_a_rolled_back_notification_is_never_sent(client: Any, fresh_url: str) -> None:
    headers = register(client)
    user_id = actor_of(client, fresh_url, headers).id
    _wait_listening(client)
    with client.websocket_connect(f"/api/ws/notifications?token={headers['Authorization'].split()[1]}") as ws:
        with psycopg.connect(fresh_url, autocommit=True) as conn, pytest.raises(RuntimeError), conn.transaction():
            NotificationRepository(conn).notify(user_id, "system", "rolled back")
            raise RuntimeError("abort")
        _notify(fresh_url, user_id, "committed")
        assert ws.receive_json()["notification"]["title"] == "committed"


def test_a_real_websocket_client_through_uvicorn(app_settings: Any, fresh_url: str) -> None:
    """Through uvicorn and a real WebSocket client: the server can upgrade the connection at all."""
    import httpx
    from websockets.sync.client import connect

    from tests.fault_support import serve_app

    with serve_app(app_settings) as served:
        http = httpx.Client(base_url=served.url)
        email = "ws@example.com"
        assert http.post("/api/auth/register", json={"email": email, "password": "long enough"}).status_code == 201
        token = http.post("/api/auth/token", data={"username": email, "password": "long enough"}).json()
        with psycopg.connect(fresh_url) as conn:
            row = conn.execute("SELECT id FROM users WHERE email = %s", [email]).fetchone()
        assert row is not None
        _notify(fresh_url, row[0], "waiting for you")
        ws_url = served.url.replace("http://", "ws://") + "/api/ws/notifications"
        with connect(f"{ws_url}?token={token['access_token']}", open_timeout=10) as ws:
            message = json.loads(ws.recv(timeout=10))
        assert message["notification"]["title"] == "waiting for you"
