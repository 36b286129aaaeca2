"""What the command line needs to run child processes well: a listening port checked before anything starts (and
who holds it when it is taken), and the address a person should open. Children that die with their parent:
`workers.runner.die_with_parent`."""

from __future__ import annotations

import errno
import ipaddress
import socket

import psutil

from config.settings import ConfigError


def check_port_free(host: str, port: int) -> None:
    """Refuse, in one line naming the port (and what holds it), a port the web server could not listen on. Binds the
    way uvicorn does (SO_REUSEADDR), so a port left in TIME_WAIT by a server that just stopped counts as free."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--host: {host!r} is not an address or name of this machine ({exc.strerror})") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise ConfigError(_why_not(host, port, exc)) from None


def _why_not(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"--port: port {port} on {host} is already in use{holder(port)}; stop that or choose another --port"
    if exc.errno == errno.EACCES:
        return f"--port: not allowed to listen on port {port} (ports below 1024 need privileges); choose another"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"--host: {host} is not an address of this machine"
    return f"--port: cannot listen on {host}:{port}: {exc.strerror}"


def holder(port: int) -> str:
    """`" by pid N (command line)"` for the process listening on `port`, when this user may see it; else ""."""
    try:
        listeners = [
            c.pid
            for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
        ]
    except psutil.Error:
        return ""
    for pid in listeners:
        try:
            command = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            return f" by pid {pid}"
        return f" by pid {pid} ({command})"
    return ""


def browser_host(host: str) -> str:
    """The host part of a URL a person can open: a wildcard address becomes this machine's loopback address."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((browser_host(host).strip("[]"), port), timeout=0.5):
            return True
    except OSError:
        return False
