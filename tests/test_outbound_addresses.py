"""The SSRF guard on its own: which hosts and addresses a URL may reach, and how an operator relaxes it."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.fernet import Fernet

from config.settings import ConfigError, load_settings
from importers.sources import OldKeys
from outbound.addresses import NOTHING, BlockedUrl, Resolver, check_url, parse_allowance

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


def resolver(answers: dict[str, list[str]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    return resolve


def test_a_name_is_refused_when_any_of_its_addresses_is_private() -> None:
    dns = resolver({"media.example": ["93.184.216.34", "10.0.0.7"], "cdn.example": ["93.184.216.34", "2606:4700::1"]})
    with pytest.raises(
        BlockedUrl, match=re.escape("media.example resolves to 10.0.0.7: a loopback, private or link-local")
    ):
        check_url("https://media.example/a.mp3", NOTHING, dns)
    check_url("https://cdn.example/a.mp3", NOTHING, dns)
    with pytest.raises(BlockedUrl, match="has no address"):
        check_url("http://empty.example/", NOTHING, resolver({"empty.example": []}))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/", "http://0.0.0.0/", "http://[::1]/", "http://169.254.169.254/latest/meta-data/",
        "http://192.168.0.10/", "http://172.16.5.4/", "http://[fd00::1]/", "http://224.0.0.1/", "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
    ],
)  # fmt: skip
def test_addresses_of_this_machine_and_its_networks_are_refused(url: str) -> None:
    with pytest.raises(BlockedUrl, match="a loopback, private or link-local address"):
        check_url(url, NOTHING)


def test_allowances_parse_from_the_environment_value() -> None:
    assert parse_allowance("").everything is False and parse_allowance("0").networks == ()
    assert parse_allowance("1").everything and parse_allowance(True).everything
    listed = parse_allowance("10.8.0.0/16, 192.168.1.20")
    check_url("http://10.8.3.4/a.mp3", listed)
    check_url("http://192.168.1.20/a.mp3", listed)
    with pytest.raises(BlockedUrl):
        check_url("http://192.168.1.21/a.mp3", listed)
    with pytest.raises(ValueError, match=re.escape("'nas.local' is neither 1/0 nor a network such as 10.0.0.0/8")):
        parse_allowance("10.0.0.0/8,nas.local")


def test_a_bad_allowance_stops_the_start_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENTR_ALLOW_PRIVATE_URLS", "yes please")
    with pytest.raises(ConfigError, match="OPENTR_ALLOW_PRIVATE_URLS"):
        load_settings()


def test_old_api_keys_open_under_either_key_derivation_of_opentranscribe() -> None:
    # A setting that base64url-decodes is the Fernet key once decoded; one that does not is padded to 32 bytes.
    fernet_key = Fernet.generate_key()
    decodes = base64.urlsafe_b64encode(fernet_key).decode()
    padded = "short secret!"
    for setting, key in [(decodes, fernet_key), (padded, base64.urlsafe_b64encode(padded.encode().ljust(32, b"\0")))]:
        stored = base64.urlsafe_b64encode(Fernet(key).encrypt(b"sk-live-123")).decode()
        assert OldKeys(setting).open(stored) == "sk-live-123"
        assert OldKeys("another secret key!").open(stored) is None
