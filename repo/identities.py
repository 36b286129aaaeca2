"""Accounts that sign in through an OpenID provider or a directory (table `user_identities`, migration 0017).

Both kinds of sign-in end here with what the provider vouched for (`ExternalProfile`) and the deployment's rules for
that provider (`LinkRules`); `IdentityRepository.sign_in` turns them into one of our accounts, the same way for both:

1. an identity linked before signs in to its account;
2. else, when the rules allow linking and the provider says the e-mail address is verified, the account with that
   address is linked (an unverified address links nothing: anyone can type someone else's address at a provider);
3. else, when the rules allow it, an account is created;
4. else the sign-in is refused (`NoAccount`): an administrator creates the account first.

Then the provider's groups are mapped: each mapped group becomes a membership of the platform group of that name
(created when missing), managed by the provider, so the next sign-in removes what the directory no longer lists;
memberships added by hand are never touched. When admin groups are configured, the directory decides the role.
Everything runs as the system: nobody is signed in yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from repo import statements as s
from repo.database import Connection, as_system
from repo.errors import Forbidden
from repo.users import User


class NoAccount(Forbidden):
    """The identity is linked to no account and the rules create none."""


class InactiveAccount(Forbidden):
    """The identity's account is deactivated."""


@dataclass(frozen=True, slots=True)
class ExternalProfile:
    provider: str  # "oidc:<name>" or "ldap:<name>"
    subject: str  # the provider's stable id: an ID token's `sub`, a directory entry's DN or GUID
    email: str | None
    email_verified: bool
    full_name: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LinkRules:
    create_accounts: bool = True
    link_by_email: bool = True
    # directory group -> platform group name; a group not named here is ignored
    group_map: Mapping[str, str] = field(default_factory=dict)
    # directory groups whose members are administrators; empty: the role is left as it is
    admin_groups: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Identity:
    provider: str
    subject: str
    email: str | None
    created_at: datetime
    last_login_at: datetime | None


_find_user = s.one_or_none("identities.find_user", User)
_user_by_email = s.one_or_none("identities.user_by_email", User)
_link = s.execute("identities.link")
_create_user = s.one("identities.create_user", User)
_set_role = s.execute("identities.set_role")
_ensure_group = s.scalar("identities.ensure_group", int)
_sync_memberships = s.execute("identities.sync_memberships")
_touch_login = s.execute("identities.touch_login")
_identities_of = s.many("identities.identities_of", Identity)
_has_identity_from = s.scalar("identities.has_identity_from", bool)


def _mapped(groups: Iterable[str], group_map: Mapping[str, str]) -> list[str]:
    return sorted({group_map[g] for g in groups if g in group_map})


class IdentityRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def sign_in(self, profile: ExternalProfile, rules: LinkRules) -> User:
        """The account this identity signs in to, linked or created by the rules, its groups and role synchronised;
        NoAccount or InactiveAccount otherwise."""
        with as_system(self.conn):
            user = self._account(profile, rules)
            if not user.is_active:
                raise InactiveAccount("this account is deactivated; ask an administrator")
            _link(self.conn, user_id=user.id, provider=profile.provider, subject=profile.subject, email=profile.email)
            group_ids = [
                _ensure_group(self.conn, name=name, provider=profile.provider)
                for name in _mapped(profile.groups, rules.group_map)
            ]
            _sync_memberships(self.conn, user_id=user.id, provider=profile.provider, group_ids=group_ids)
            if rules.admin_groups:
                role = "admin" if rules.admin_groups & set(profile.groups) else "user"
                _set_role(self.conn, user_id=user.id, role=role)
            _touch_login(self.conn, user_id=user.id)
            found = _find_user(self.conn, provider=profile.provider, subject=profile.subject)
        assert found is not None
        return found

    def _account(self, profile: ExternalProfile, rules: LinkRules) -> User:
        linked = _find_user(self.conn, provider=profile.provider, subject=profile.subject)
        if linked is not None:
            return linked
        if profile.email and profile.email_verified and rules.link_by_email:
            existing = _user_by_email(self.conn, email=profile.email)
            if existing is not None:
                return existing
        if not rules.create_accounts:
            raise NoAccount("no account is linked to this sign-in; ask an administrator to create yours")
        if not profile.email:
            raise NoAccount("the provider sent no e-mail address, which a new account needs", "email")
        if _user_by_email(self.conn, email=profile.email) is not None:
            # An account with this address exists but the address was not vouched for: never link or take it over.
            raise NoAccount("an account with this e-mail address exists; sign in with it and link this provider")
        return _create_user(self.conn, email=profile.email, full_name=profile.full_name[:200])

    def identities_of(self, user_id: int) -> list[Identity]:
        with as_system(self.conn):
            return _identities_of(self.conn, user_id=user_id)

    def signs_in_through(self, user_id: int, kind: str) -> bool:
        """Whether the account has an identity of this kind ("oidc" or "ldap")."""
        with as_system(self.conn):
            return _has_identity_from(self.conn, user_id=user_id, prefix=f"{kind}:")
