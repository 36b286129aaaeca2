"""Which addresses a URL given by a user may reach.

A user who can make the server fetch a URL can otherwise make it fetch what only the server can reach: the cloud
metadata service (169.254.169.254), an admin port on loopback, a database or NAS on the private network. So a URL
is refused when its host is, or resolves to (every address DNS gives, IPv4 and IPv6), an address that is not
globally routable: loopback, private (RFC 1918, fc00::/7), link-local, shared (100.64/10), unspecified, reserved,
multicast. The check runs again on every redirect hop and, after connecting, on the address actually connected to,
so a name that resolves to a public address for the check and to a private one for the connection (DNS rebinding)
is caught before its answer is read.

An operator can allow everything (`1`, for development) or a list of networks (`10.8.0.0/16,192.168.1.20`), say a
NAS on the LAN that people import from.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
SCHEMES = ("http", "https")


class BlockedUrl(ValueError):
    """The URL may not be fetched; the message says why, naming the host or the address."""


@dataclass(frozen=True)
class Allowance:
    """Non-public networks the deployment allows anyway; `everything` for development."""

    everything: bool = False
    networks: tuple[IpNetwork, ...] = ()

    def allows(self, address: IpAddress) -> bool:
        return self.everything or is_public(address) or any(address in net for net in self.networks)


NOTHING = Allowance()


def parse_allowance(value: str | bool | None) -> Allowance:
    """`''`/`0`/`false`: only public addresses; `1`/`true`: everything; else comma-separated networks or addresses.

    Raises ValueError naming the part that is neither."""
    if isinstance(value, bool):
        return Allowance(everything=value)
    text = (value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return NOTHING
    if text in ("1", "true", "yes", "on"):
        return Allowance(everything=True)
    networks = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is neither 1/0 nor a network such as 10.0.0.0/8") from None
    return Allowance(networks=tuple(networks))


def is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return address.is_global and not address.is_multicast


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedUrl(f"the host {host} cannot be resolved ({exc})") from None
    return sorted({str(info[4][0]) for info in infos})


def check_address(address: str, allowance: Allowance, host: str | None = None) -> None:
    ip = ipaddress.ip_address(address.split("%")[0])  # drop an IPv6 zone id
    if not allowance.allows(ip):
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        shown = f"::ffff:{mapped}" if mapped is not None else str(ip)
        named = f"{host} resolves to {shown}" if host else shown
        raise BlockedUrl(f"{named}: a loopback, private or link-local address, which this server does not fetch")


def check_url(url: str, allowance: Allowance, resolve: Resolver = system_resolver) -> None:
    """Raise BlockedUrl unless `url` is http(s) with a host whose every address is allowed."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise BlockedUrl(f"not a valid URL ({exc})") from None
    if parts.scheme not in SCHEMES:
        raise BlockedUrl("only http and https URLs can be fetched")
    host = parts.hostname
    if not host:
        raise BlockedUrl("the URL has no host")
    if allowance.everything:
        return
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        addresses = resolve(host, port)
        if not addresses:
            raise BlockedUrl(f"the host {host} has no address") from None
        for address in addresses:
            check_address(address, allowance, host)
    else:
        check_address(str(literal), allowance)
