"""A real SMTP server on loopback (aiosmtpd) for tests that send mail: it accepts every message and keeps it, parsed,
for the test to read.

    with MailCatcher() as mail:
        settings = Settings(..., opentr_smtp_host=mail.host, opentr_smtp_port=mail.port, opentr_smtp_starttls=False)
        ...
        received = mail.wait_for("zoë@example.org")
        body = received.get_content()
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class _Keeper:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        assert isinstance(raw, bytes)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.arrived:
            self.messages.append((envelope, parsed))
            self.arrived.notify_all()
        return "250 OK"


class MailCatcher:
    """Starts on a free loopback port on entry, stops on exit; `messages`: (envelope, parsed message) as received."""

    def __init__(self) -> None:
        self._keeper = _Keeper()
        self.host = "127.0.0.1"
        with socket.socket() as probe:  # a free port (aiosmtpd's start checks the port it was given answers)
            probe.bind((self.host, 0))
            self.port = int(probe.getsockname()[1])
        self._controller = Controller(self._keeper, hostname=self.host, port=self.port, enable_SMTPUTF8=True)

    def __enter__(self) -> MailCatcher:
        self._controller.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._keeper.arrived:
            return [message for _, message in self._keeper.messages]

    def recipients(self) -> list[str]:
        with self._keeper.arrived:
            return [rcpt for envelope, _ in self._keeper.messages for rcpt in envelope.rcpt_tos]

    def wait_for(self, to: str, timeout: float = 10.0) -> EmailMessage:
        """The first message to `to`, waiting for it to arrive (mail is sent after the answer, on a thread)."""
        deadline = time.monotonic() + timeout
        with self._keeper.arrived:
            while True:
                for envelope, message in self._keeper.messages:
                    if to in envelope.rcpt_tos:
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no mail to {to} within {timeout} s; received for {self.recipients()}")
                self._keeper.arrived.wait(left)
