"""Debian's OpenLDAP server (`slapd`), started by the tests with its own database, for directory sign-in.

`start_directory(home)` writes a CA and a server certificate (made here with `cryptography`), a slapd.conf with the
mdb backend and the memberof overlay, loads an LDIF with `slapadd` (an organisation, people whose names are written
in German, Japanese and Arabic, groups, a service account that may search) and starts slapd on two free loopback
ports: one for ldap:// (StartTLS offered) and one for ldaps://. Nothing is mocked: the platform talks LDAP to it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import ldap3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
BASE = "dc=example,dc=org"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
ROOT_DN, ROOT_PASSWORD = f"cn=admin,{BASE}", "root secret"
SERVICE_DN, SERVICE_PASSWORD = f"cn=opentr,ou=services,{BASE}", "service secret"


@dataclass(frozen=True)
class Person:
    uid: str
    name: str
    mail: str | None
    password: str

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{PEOPLE}"


ZOE = Person("zoe", "Zoë Müller", "zoe@example.org", "Zoës Paßwort 1")
KENJI = Person("kenji", "山田 健二", "kenji@example.org", "秘密のパスワード")
LAYLA = Person("layla", "ليلى حداد", "layla@example.org", "كلمة السر 1")
ANN = Person("ann", "Ann Example", "ann@example.org", "ann's directory password")
NOMAIL = Person("nomail", "Nobody Mailable", None, "no mail here 1")
JUERGEN = Person("jürgen", "Jürgen Groß", "juergen@example.org", "Grüße 🎻 1")  # a user name beyond ASCII
PEOPLE_LIST = (ZOE, KENJI, LAYLA, ANN, NOMAIL, JUERGEN)
# group cn -> its members at the start
GROUP_MEMBERS = {
    "transcribers": (ZOE, KENJI, ANN),
    "opentr-admins": (ZOE,),
    "unmapped": (LAYLA,),
}


def group_dn(cn: str) -> str:
    return f"cn={cn},{GROUPS}"


def set_members(directory: Directory, cn: str, members: tuple[Person, ...]) -> None:
    """A group's members become exactly these, changed online as the directory's administrator would (so the
    memberof overlay writes each person's memberOf, which slapadd does not)."""
    connection = ldap3.Connection(
        ldap3.Server(directory.ldap_url, get_info=ldap3.NONE), ROOT_DN, ROOT_PASSWORD, auto_bind=True
    )
    try:
        changes = {"member": [(ldap3.MODIFY_REPLACE, [m.dn for m in members])]}
        assert connection.modify(group_dn(cn), changes), connection.result  # type: ignore[no-untyped-call]
    finally:
        connection.unbind()


@dataclass(frozen=True)
class Directory:
    ldap_url: str
    ldaps_url: str
    ca_file: Path
    other_ca_file: Path  # a CA that signed nothing this server shows: TLS against it must fail
    home: Path
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _line(attribute: str, value: str) -> str:
    """An LDIF line; anything beyond printable ASCII goes base64 (`attr:: …`), as LDIF requires."""
    if value.isascii() and value.isprintable() and not value.startswith((" ", ":", "<")):
        return f"{attribute}: {value}"
    return f"{attribute}:: {base64.b64encode(value.encode()).decode()}"


def _entry(dn: str, *pairs: tuple[str, str]) -> str:
    return "\n".join([_line("dn", dn), *(_line(a, v) for a, v in pairs)]) + "\n"


def directory_ldif() -> str:
    entries = [
        _entry(BASE, ("objectClass", "dcObject"), ("objectClass", "organization"), ("dc", "example"), ("o", "Example")),
        *(
            _entry(f"ou={ou},{BASE}", ("objectClass", "organizationalUnit"), ("ou", ou))
            for ou in ("people", "groups", "services")
        ),
        _entry(
            SERVICE_DN,
            ("objectClass", "organizationalRole"),
            ("objectClass", "simpleSecurityObject"),
            ("cn", "opentr"),
            ("userPassword", _ssha(SERVICE_PASSWORD)),
        ),
    ]
    for person in PEOPLE_LIST:
        pairs = [
            ("objectClass", "inetOrgPerson"),
            ("uid", person.uid),
            ("cn", person.name),
            ("sn", person.name.split()[-1]),
            ("displayName", person.name),
            ("userPassword", _ssha(person.password)),
        ]
        if person.mail:
            pairs.append(("mail", person.mail))
        entries.append(_entry(person.dn, *pairs))
    for cn, members in GROUP_MEMBERS.items():
        pairs = [("objectClass", "groupOfNames"), ("cn", cn), *(("member", m.dn) for m in members)]
        entries.append(_entry(group_dn(cn), *pairs))
    return "\n".join(entries)


def _certificates(home: Path) -> tuple[Path, Path, Path, Path]:
    """(ca.pem, server.pem, server.key, other-ca.pem): a CA, a server certificate it signed for 127.0.0.1 and
    localhost, and an unrelated CA."""
    now = datetime.now(UTC)

    def ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = ca("opentr test directory CA")
    _, other_cert = ca("some other CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = home / "ca.pem", home / "server.pem", home / "server.key", home / "other-ca.pem"
    paths[0].write_bytes(ca_cert.public_bytes(pem))
    paths[1].write_bytes(server_cert.public_bytes(pem))
    paths[2].write_bytes(server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    paths[3].write_bytes(other_cert.public_bytes(pem))
    return paths


def _config(home: Path, ca: Path, cert: Path, key: Path) -> Path:
    config = home / "slapd.conf"
    config.write_text(
        f"""
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {home}/slapd.pid
argsfile {home}/slapd.args
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}

database mdb
maxsize 10485760
suffix "{BASE}"
rootdn "{ROOT_DN}"
rootpw "{ROOT_PASSWORD}"
directory {home}/db
overlay memberof
# the service account searches everything but passwords; people bind with theirs
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{SERVICE_DN}" read by self read by * none
"""
    )
    return config


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited ({process.returncode}): {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"slapd did not listen on {port}: {log.read_text(errors='replace')[-2000:]}")


@contextlib.contextmanager
def running_directory(home: Path) -> Iterator[Directory]:
    """slapd with the test directory loaded, on free loopback ports; stopped (and its files removed) afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "db").mkdir()
    ca, cert, key, other_ca = _certificates(home)
    config = _config(home, ca, cert, key)
    ldif = home / "directory.ldif"
    ldif.write_text(directory_ldif(), encoding="utf-8")
    subprocess.run([SLAPADD, "-q", "-f", str(config), "-l", str(ldif)], check=True, capture_output=True)
    plain, tls = free_port(), free_port()
    log = home / "slapd.log"
    urls = f"ldap://127.0.0.1:{plain}/ ldaps://127.0.0.1:{tls}/"
    with log.open("wb") as out:
        # -d: stay in the foreground (the test owns the process); 0: log nothing but start-up errors
        process = subprocess.Popen([SLAPD, "-f", str(config), "-h", urls, "-d", "0"], stdout=out, stderr=out)
    try:
        _wait_listening(plain, process, log)
        _wait_listening(tls, process, log)
        directory = Directory(f"ldap://127.0.0.1:{plain}", f"ldaps://127.0.0.1:{tls}", ca, other_ca, home, process)
        for cn, members in GROUP_MEMBERS.items():
            set_members(directory, cn, members)
        yield directory
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)
