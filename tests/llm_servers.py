"""Real HTTP servers on 127.0.0.1 that speak (or garble) the LLM providers' APIs, for the client and worker tests."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # dict/list are sent as JSON, str as it is
    sleep: float = 0.0  # held this long before answering, or until the server's `released` is set
    headers: dict[str, str] = field(default_factory=dict)
    # Streamed as server-sent events instead of `body`: each item written as `data: <item>` and flushed. With
    # `stall_after`, the stream holds after that many items for `sleep` (or until `released`), then goes on.
    events: tuple[str, ...] | None = None
    stall_after: int | None = None


Responder = Callable[[Received], Reply]


@dataclass
class LocalServer:
    responder: Responder
    requests: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # model listings
                self.do_POST()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                server.requests.append(received)
                reply = server.responder(received)
                if reply.events is not None:
                    self.send_events(reply)
                    return
                if reply.sleep:
                    server.released.wait(reply.sleep)
                text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                payload = text.encode()
                try:
                    self.send_response(reply.status)
                    if not any(name.lower() == "content-type" for name in reply.headers):
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test)

            def send_events(self, reply: Reply) -> None:
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()  # HTTP/1.0: the stream ends when the connection closes
                    for index, item in enumerate(reply.events or ()):
                        if index == reply.stall_after:
                            server.released.wait(reply.sleep)
                        self.wfile.write(f"data: {item}\n\n".encode())
                        self.wfile.flush()
                except OSError:
                    pass  # the client gave up

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@contextlib.contextmanager
def serving() -> Iterator[Callable[[Responder], LocalServer]]:
    """Start servers on demand with the function this yields; all of them stop when the block ends."""
    servers: list[LocalServer] = []

    def start(responder: Responder) -> LocalServer:
        server = LocalServer(responder)
        server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def in_turn(*replies: Reply) -> Responder:
    """The replies in order, the last one repeated."""
    queue = list(replies)

    def respond(_: Received) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return respond


def openai_answer(text: str = "Hello there", prompt_tokens: int = 21, completion_tokens: int = 5) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def openai_stream(*pieces: str, finish: str | None = "stop") -> tuple[str, ...]:
    """An OpenAI-compatible streamed answer: a chunk per piece (a role chunk first), a finish chunk, `[DONE]`."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [choice]})

    chunks = [chunk({"role": "assistant", "content": ""}), *(chunk({"content": piece}) for piece in pieces)]
    if finish is not None:
        chunks += [chunk({}, finish), "[DONE]"]
    return tuple(chunks)
