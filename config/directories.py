"""The directories (LDAP, Active Directory) people may sign in with: `OPENTR_LDAP_PROVIDERS`, a JSON list of these.

    OPENTR_LDAP_PROVIDERS='[{"name": "corp", "url": "ldaps://ldap.example.org", "ca_file": "/etc/ssl/corp-ca.pem",
      "bind_dn": "cn=opentr,ou=services,dc=example,dc=org", "bind_password": "…",
      "user_base": "ou=people,dc=example,dc=org", "group_base": "ou=groups,dc=example,dc=org",
      "group_map": {"transcribers": "Transcribers"}, "admin_groups": ["opentr-admins"]}]'

Everything that could only fail at someone's sign-in (a missing CA file, a filter without `{username}`, two
directories of one name) fails the start instead, naming the setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_USER_FILTER = "(|(uid={username})(mail={username}))"
DEFAULT_GROUP_FILTER = "(|(member={dn})(uniqueMember={dn}))"
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
Attribute = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$")]


def _balanced(value: str) -> str:
    """A filter must at least be one parenthesised expression; the server would refuse it at every sign-in."""
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0 or not (value.startswith("(") and value.endswith(")")):
        raise ValueError(f"not a parenthesised LDAP filter: {value!r}")
    return value


class LdapDirectory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug  # the method on the audit trail and on sessions: ldap:<name>
    url: str
    start_tls: bool = False  # ldap:// upgraded to TLS before anything is sent; ldaps:// is TLS from the start
    # The CA that signed the server's certificate (PEM); unset: the system's. The certificate is always verified.
    ca_file: Path | None = None
    bind_dn: str | None = None  # the service account that searches; unset: an anonymous search
    bind_password: SecretStr | None = None
    user_base: str = Field(min_length=1)
    user_filter: str = DEFAULT_USER_FILTER  # {username}: what was typed, escaped
    email_attribute: Attribute = "mail"
    name_attribute: Attribute = "cn"  # displayName on Active Directory
    # Groups: the entry's memberOf (Active Directory, OpenLDAP's memberof overlay) unless group_base is set, then a
    # search there for the groups naming the entry ({dn}: the entry's DN, escaped).
    member_of_attribute: Attribute = "memberOf"
    group_base: str | None = None
    group_filter: str = DEFAULT_GROUP_FILTER
    group_name_attribute: Attribute = "cn"
    group_map: dict[str, str] = Field(default_factory=dict)  # directory group -> platform group
    admin_groups: frozenset[str] = frozenset()  # their members are administrators; empty: roles left alone
    create_accounts: bool = True
    link_by_email: bool = True  # the directory's address counts as verified: the organisation vouches for it
    password_signin_for_directory_users: bool = True  # false: a linked account's local password stops working
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    timeout_seconds: int = Field(default=10, ge=1, le=300)  # each answer from the server (whole seconds: ldap3)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("ldap://", "ldaps://")) or len(value.split("://", 1)[1].strip("/")) == 0:
            raise ValueError(f"must be an ldap:// or ldaps:// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("user_filter")
    @classmethod
    def _user_filter(cls, value: str) -> str:
        if "{username}" not in value:
            raise ValueError("must contain {username}")
        return _balanced(value)

    @field_validator("group_filter")
    @classmethod
    def _group_filter(cls, value: str) -> str:
        if "{dn}" not in value:
            raise ValueError("must contain {dn}")
        return _balanced(value)

    @model_validator(mode="after")
    def _consistent(self) -> LdapDirectory:
        if self.start_tls and self.url.startswith("ldaps://"):
            raise ValueError(f"{self.name}: start_tls is for ldap:// URLs; ldaps:// is TLS already")
        if (self.bind_dn is None) != (self.bind_password is None):
            raise ValueError(f"{self.name}: bind_dn and bind_password go together")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.start_tls or self.url.startswith("ldaps://")

    @property
    def provider(self) -> str:
        return f"ldap:{self.name}"


def unique_names(directories: list[LdapDirectory]) -> list[LdapDirectory]:
    names = [d.name for d in directories]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two directories named {', '.join(twice)}")
    return directories
