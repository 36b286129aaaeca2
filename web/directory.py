"""Asking a directory (LDAP, Active Directory) whether a name and password belong together: search, then bind.

    person = authenticate(directory, "zoe", "her password")   # DirectoryPerson, or DirectoryRefused /
                                                                # DirectoryUnavailable

1. bind as the service account (or anonymously when none is configured) and search `user_base` for the typed name
   with `user_filter`, the name escaped (RFC 4515), so `*)(uid=*))(|(uid=*` looks for that odd name and nothing else;
   exactly one entry must match;
2. bind as that entry's DN with the typed password: the directory checks it, we never see a hash. An empty password
   is refused before any bind, since a simple bind without a password is an "unauthenticated bind" that many servers
   answer with success (RFC 4513 §5.1.2);
3. read the address, the name and the groups (memberOf, or a search of `group_base`) as the service account.

TLS (ldaps:// or StartTLS) always verifies the server's certificate against `ca_file` (else the system's CAs) and
its name. Anything that keeps the answer from coming (no connection, a certificate that does not verify, a timeout,
the service account refused) is `DirectoryUnavailable`: never reported as a wrong password.
"""

from __future__ import annotations

import contextlib
import ssl
import uuid
from dataclasses import dataclass
from typing import Any

from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from config.directories import LdapDirectory


class DirectoryRefused(Exception):
    """The directory does not vouch for these credentials (no such person, several, or a wrong password)."""


class DirectoryUnavailable(Exception):
    """The directory could not be asked; the message says why, for the operator (the audit trail, the log)."""


@dataclass(frozen=True, slots=True)
class DirectoryPerson:
    dn: str
    subject: str  # entryUUID (OpenLDAP) or objectGUID (Active Directory) when present: they survive a rename
    email: str | None
    full_name: str
    groups: tuple[str, ...]


def _server(directory: LdapDirectory) -> Server:
    tls = None
    if directory.uses_tls:
        tls = Tls(
            validate=ssl.CERT_REQUIRED,  # never CERT_NONE: a directory that cannot prove who it is gets no password
            ca_certs_file=str(directory.ca_file) if directory.ca_file else None,
        )
    return Server(
        directory.url,
        use_ssl=directory.url.startswith("ldaps://"),
        tls=tls,
        get_info=NONE,  # no schema read: one round trip less, and nothing of it is needed
        connect_timeout=directory.connect_timeout_seconds,
    )


def _open(directory: LdapDirectory, server: Server, dn: str | None, password: str | None) -> Connection:
    """A connection (TLS started when configured) not bound yet; LDAPException when the server cannot be reached."""
    connection = Connection(
        server,
        user=dn,
        password=password,
        read_only=True,
        auto_referrals=False,  # a referral would send the password to another server
        receive_timeout=directory.timeout_seconds,
        raise_exceptions=False,  # LDAP result codes come back as False; network trouble still raises
    )
    connection.open()
    if directory.start_tls and not connection.start_tls():
        raise DirectoryUnavailable(f"StartTLS refused: {connection.result.get('description')}")
    return connection


def _close(connection: Connection | None) -> None:
    if connection is not None and not connection.closed:
        with contextlib.suppress(LDAPException):  # closing a broken connection: nothing left to do
            connection.unbind()


def _first(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value not in (None, "") else None


def _subject(entry: dict[str, Any]) -> str:
    attributes, raw = entry.get("attributes", {}), entry.get("raw_attributes", {})
    found = _first(attributes, "entryUUID")
    if found:
        return found
    guid = raw.get("objectGUID") or []
    if guid and isinstance(guid[0], bytes) and len(guid[0]) == 16:
        return str(uuid.UUID(bytes_le=guid[0]))  # Active Directory stores the GUID little-endian
    return str(entry["dn"])


def _group_name(dn: str) -> str:
    """The first RDN's value of a group's DN (cn=transcribers,ou=groups,… -> transcribers)."""
    try:
        value = str(parse_dn(dn)[0][1])
    except (LDAPException, IndexError):
        return dn
    return value.replace("\\,", ",").replace("\\+", "+").replace("\\=", "=").replace("\\\\", "\\")


def _groups(directory: LdapDirectory, service: Connection, entry: dict[str, Any]) -> tuple[str, ...]:
    if directory.group_base is None:
        values = entry.get("attributes", {}).get(directory.member_of_attribute) or []
        return tuple(sorted({_group_name(str(dn)) for dn in values}))
    found = service.search(
        directory.group_base,
        directory.group_filter.replace("{dn}", escape_filter_chars(str(entry["dn"]))),
        search_scope=SUBTREE,
        attributes=[directory.group_name_attribute],
    )
    if not found and service.result.get("result") not in (0, 32):  # 32: no such object, i.e. no groups
        raise DirectoryUnavailable(f"group search failed: {service.result.get('description')}")
    names = {_first(e.get("attributes", {}), directory.group_name_attribute) for e in _entries(service)}
    return tuple(sorted(name for name in names if name))


def _entries(connection: Connection) -> list[dict[str, Any]]:
    return [item for item in connection.response or [] if item.get("type") == "searchResEntry"]


def authenticate(directory: LdapDirectory, username: str, password: str) -> DirectoryPerson:
    """The person these credentials belong to in `directory`; DirectoryRefused or DirectoryUnavailable otherwise."""
    if not password or not username.strip():
        raise DirectoryRefused("empty name or password")  # before any bind: see the module's docstring
    server = _server(directory)
    service: Connection | None = None
    person: Connection | None = None
    try:
        password_of_service = directory.bind_password.get_secret_value() if directory.bind_password else None
        service = _open(directory, server, directory.bind_dn, password_of_service)
        if not service.bind():
            raise DirectoryUnavailable(f"the service account was refused: {service.result.get('description')}")
        attributes = [
            directory.email_attribute,
            directory.name_attribute,
            directory.member_of_attribute,
            "entryUUID",
            "objectGUID",
        ]
        service.search(
            directory.user_base,
            directory.user_filter.replace("{username}", escape_filter_chars(username.strip())),
            search_scope=SUBTREE,
            attributes=attributes,
            size_limit=2,  # two are as bad as two thousand
        )
        entries = _entries(service)
        if service.result.get("result") not in (0, 4, 32) and not entries:  # 4: size limit, 32: no such base
            raise DirectoryUnavailable(f"user search failed: {service.result.get('description')}")
        if len(entries) != 1:
            raise DirectoryRefused("no such person" if not entries else "the name matches several entries")
        entry = entries[0]
        person = _open(directory, server, str(entry["dn"]), password)
        if not person.bind():
            raise DirectoryRefused(f"bind refused: {person.result.get('description')}")
        attributes_found = entry.get("attributes", {})
        return DirectoryPerson(
            dn=str(entry["dn"]),
            subject=_subject(entry),
            email=_first(attributes_found, directory.email_attribute),
            full_name=_first(attributes_found, directory.name_attribute) or "",
            groups=_groups(directory, service, entry),
        )
    except LDAPException as exc:
        raise DirectoryUnavailable(str(exc) or type(exc).__name__) from exc
    finally:
        _close(person)
        _close(service)
