"""Sending a plain-text mail through the configured SMTP server (OPENTR_SMTP_*), for whatever needs to mail a person:
a password reset link today.

    send_mail(settings.mail_server, "zoë@example.org", "Reset your password", text)

`settings.mail_server` is None when no SMTP host is configured: callers say that mail is not configured rather than
pretend it was sent. The server is reached with STARTTLS (the default on port 587) or TLS from the first byte
(`OPENTR_SMTP_SSL`, port 465), or in the clear when both are off (a relay on loopback); it authenticates when a
user name is set. Addresses and text in any language: the message is UTF-8 and SMTPUTF8 is used when an address
needs it. Failures raise MailError with one line a log can say.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


class MailError(Exception):
    """The mail could not be handed to the SMTP server."""


@dataclass(frozen=True, slots=True)
class MailServer:
    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    ssl: bool = False
    sender: str = "opentr@localhost"
    timeout: float = 20.0


def message(server: MailServer, to: str, subject: str, text: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = server.sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=server.sender.rpartition("@")[2] or None)
    mail.set_content(text, charset="utf-8")
    return mail


def send_mail(server: MailServer, to: str, subject: str, text: str) -> None:
    """Hand one plain-text mail to the server; MailError when it cannot be."""
    mail = message(server, to, subject, text)
    international = not (to.isascii() and server.sender.isascii())
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if server.ssl:
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout, context=context)
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
        with smtp:
            if not server.ssl and server.starttls:
                smtp.starttls(context=context)
            if server.username:
                smtp.login(server.username, server.password or "")
            smtp.send_message(mail, mail_options=["SMTPUTF8"] if international else ())
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not send mail through {server.host}:{server.port}: {exc}") from exc
