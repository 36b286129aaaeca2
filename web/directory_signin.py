"""Password sign-in when directories are configured (OPENTR_LDAP_PROVIDERS): which check a typed name gets, and the
directory check itself, for `web.auth.password_signin` (the one password path of the API and the sign-in page).

The order, decided by `route`:
1. a local account that signs in by password and is linked to no directory keeps its local password, and that
   password is never sent to a directory;
2. any other name is tried against the configured directories in order (search, then bind: web/directory.py); the
   first that vouches for it signs the person in, through `IdentityRepository.sign_in` like OpenID Connect:
   linked, linked by e-mail (a directory's address counts as verified: the organisation runs it) or created, with
   its groups mapped;
3. when no directory vouches for it, an account linked to directories may still use its local password, unless one
   of those directories says `password_signin_for_directory_users: false`.

The caller counts the attempt as a failure for the lockout before the directory is asked (so guessing through the
directory is exactly as slow as guessing a local password, and concurrent guesses cannot all slip in before the
count) and clears the count on success. Every refusal is on the audit trail as `signin.ldap` with the directory's
name; a directory that cannot be asked is a 503 saying so, never "wrong password".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from config.directories import LdapDirectory
from repo.errors import Forbidden
from repo.identities import ExternalProfile, IdentityRepository, LinkRules
from repo.password_accounts import PasswordAccount, password_account
from repo.users import User, UserRepository
from web.directory import DirectoryPerson, DirectoryRefused, DirectoryUnavailable, authenticate
from web.endpoint import Ctx
from web.errors import ServiceUnavailable, Unauthorized
from web.signin import signin_refused

log = logging.getLogger("opentr.web.directory")
WRONG = "wrong email or password"


@dataclass(frozen=True, slots=True)
class Route:
    directories: tuple[LdapDirectory, ...]  # empty: the local password only
    account: PasswordAccount | None

    @property
    def method(self) -> str:
        """The method an attempt on this route is recorded under before anything has vouched for it."""
        return self.directories[0].provider if self.directories else "password"


def route(ctx: Ctx, username: str) -> Route:
    directories = tuple(ctx.services.settings.opentr_ldap_providers)
    if not directories or not username.strip():  # no name: nothing to ask a directory about
        return Route((), None)
    account = password_account(ctx.conn, username)
    if account is not None and account.has_password and not account.directories:
        return Route((), account)
    return Route(directories, account)


def rules_of(directory: LdapDirectory) -> LinkRules:
    return LinkRules(
        create_accounts=directory.create_accounts,
        link_by_email=directory.link_by_email,
        group_map=directory.group_map,
        admin_groups=directory.admin_groups,
    )


def profile_of(directory: LdapDirectory, person: DirectoryPerson) -> ExternalProfile:
    return ExternalProfile(
        provider=directory.provider,
        subject=person.subject,
        email=person.email,
        email_verified=True,  # the organisation's own directory: link_by_email decides whether that links
        full_name=person.full_name,
        groups=person.groups,
    )


def directory_signin(ctx: Ctx, way: Route, username: str, password: str, locked_for: int) -> tuple[User, str]:
    """(the account, the method that proved it) for these credentials on this route; Unauthorized,
    ServiceUnavailable (a directory could not be asked) or Forbidden (no account for this person), each audited."""
    if not password:  # refused before any bind: an unauthenticated bind "succeeds" on many servers
        signin_refused(ctx, way.method, username=username, reason="empty password", locked_for=locked_for)
        raise Unauthorized(WRONG)
    unavailable: list[tuple[LdapDirectory, str]] = []
    refusals: list[str] = []
    for directory in way.directories:
        try:
            person = authenticate(directory, username, password)
        except DirectoryRefused as exc:
            refusals.append(f"{directory.name}: {exc}")
            continue
        except DirectoryUnavailable as exc:
            log.warning("directory %s unavailable: %s", directory.name, exc)
            unavailable.append((directory, str(exc)))
            continue
        return _account(ctx, directory, person, username), directory.provider
    user = _local_password(ctx, way, username, password, locked_for)
    if user is not None:
        return user, "password"
    if unavailable:
        directory, why = unavailable[0]
        signin_refused(
            ctx, directory.provider, username=username, reason="directory unavailable", error=why, locked_for=locked_for
        )
        raise ServiceUnavailable(
            f"the directory {directory.name!r} is unavailable, so this password cannot be checked; try again shortly"
        )
    signin_refused(ctx, way.method, username=username, reason=WRONG, checked=refusals, locked_for=locked_for)
    raise Unauthorized(WRONG)


def _account(ctx: Ctx, directory: LdapDirectory, person: DirectoryPerson, username: str) -> User:
    try:
        return IdentityRepository(ctx.conn).sign_in(profile_of(directory, person), rules_of(directory))
    except Forbidden as exc:  # no account and none to be made, or a deactivated one
        signin_refused(ctx, directory.provider, username=username, reason=exc.detail, outcome="refused", dn=person.dn)
        raise


def _local_password(ctx: Ctx, way: Route, username: str, password: str, locked_for: int) -> User | None:
    """The account's own password, for an account linked to directories that all allow it; None otherwise."""
    account = way.account
    if account is None or not account.has_password:
        return None
    user = UserRepository(ctx.conn).authenticate_password(username, password)
    if user is None:
        return None
    linked = [d for d in way.directories if d.provider in account.directories]
    closed = [d.name for d in linked if not d.password_signin_for_directory_users]
    if closed:
        signin_refused(
            ctx,
            f"ldap:{closed[0]}",
            username=username,
            reason="local password turned off for directory users",
            user=user,
            locked_for=locked_for,
        )
        raise Unauthorized(
            f"this account signs in with its password in the directory {closed[0]!r}; its own password is turned off"
        )
    return user
