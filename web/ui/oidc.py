"""Signing in through an OpenID provider (authorization code + PKCE), in the browser.

    GET /signin/oidc/<name>            → the provider's authorization endpoint (state, nonce, S256 challenge)
    GET /signin/oidc/<name>/callback   → the code exchanged, the ID token validated, the account found or created
                                         (repo/identities.py), the session started (web/signin.py), back to `next`

Every refusal — a state that is missing, used, or from another browser; the provider's own `error`; a refused or
replayed code; an ID token that is forged, expired, for another audience or issuer, or for another sign-in (nonce);
an account the rules do not create or that is deactivated — is a 4xx page saying what happened, and a row on the
audit trail (`signin.oidc`, outcome refused). A provider that does not answer is a 503 page naming it.

Both pages run outside the pipeline's transaction: the provider is asked over the network first, and the sign-in's
one short transaction comes after.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.responses import Response

from config.settings import OidcProvider
from repo.errors import NotFound
from repo.identities import ExternalProfile, IdentityRepository, InactiveAccount, LinkRules, NoAccount
from web import oidc_flow, sessions
from web.endpoint import Ctx
from web.oidc_client import OidcClient, OidcRefused, ProviderDown
from web.signin import finish_signin, signin_refused
from web.ui.render import View, local_next, page


def _provider(view: View) -> OidcProvider:
    found = view.services.settings.oidc_provider(str(view.request.path_params.get("name", "")))
    if found is None:
        raise NotFound("there is no sign-in provider of this name")
    return found


def client_for(ctx: Ctx, provider: OidcProvider) -> OidcClient:
    return OidcClient(provider, timeout=ctx.services.settings.opentr_oidc_timeout_seconds)


def buttons(ctx: Ctx) -> list[dict[str, str]]:
    """The sign-in page's "Sign in with …" buttons."""
    return [
        {"label": p.label, "href": oidc_flow.start_path(p.name)} for p in ctx.services.settings.opentr_oidc_providers
    ]


def _callback_url(view: View, provider: OidcProvider) -> str:
    return str(view.request.base_url).rstrip("/") + f"{oidc_flow.start_path(provider.name)}/callback"


@page("/signin/oidc/{name}", auth=False, in_transaction=False)
def start(view: View) -> Response:
    """Send the browser to the provider to sign in."""
    provider = _provider(view)
    target = local_next(view.query("next"), "/")
    redirect_uri = _callback_url(view, provider)
    client = client_for(view, provider)
    client.metadata()  # a provider that is down says so here, before any state is kept
    state, pending = oidc_flow.begin(view, provider.name, target, redirect_uri)
    url = client.authorization_url(redirect_uri, state=state, nonce=pending.nonce, code_verifier=pending.code_verifier)
    response = view.redirect(url)
    oidc_flow.bind(response, view.request, state)
    return response


@page("/signin/oidc/{name}/callback", auth=False, in_transaction=False)
def callback(view: View) -> Response:
    """The provider's return: sign in, or say why not."""
    provider = _provider(view)
    method = f"oidc:{provider.name}"
    try:
        return _sign_in(view, provider)
    except ProviderDown as exc:
        signin_refused(view, method, reason=exc.reason, outcome="failure")
        raise
    except OidcRefused as exc:
        signin_refused(view, method, reason=exc.reason, outcome="refused")
        raise


def _sign_in(view: View, provider: OidcProvider) -> Response:
    label = provider.label
    state = view.query("state")
    if not state:
        raise OidcRefused("missing state", "this sign-in has no state; start again from the sign-in page")
    if not oidc_flow.bound_here(view.request, state):
        raise OidcRefused(
            "state from another browser",
            "this sign-in was not started in this browser (state mismatch); start again from the sign-in page",
        )
    pending = oidc_flow.take(view, state)
    if pending is None or pending.provider != provider.name:
        raise OidcRefused(
            "unknown or used state",
            "this sign-in has expired or was already used (state); start again from the sign-in page",
        )
    error = view.query("error")
    if error:  # the provider's own refusal (the person said no, the client is not allowed), for this sign-in only
        said = view.query("error_description") or error
        raise OidcRefused(f"provider error: {error}"[:200], f"{label} did not sign you in: {said[:300]}")
    code = view.query("code")
    if not code:
        raise OidcRefused("missing code", f"{label} sent no sign-in code; start again from the sign-in page")
    client = client_for(view, provider)
    tokens = client.exchange_code(code, pending.redirect_uri, pending.code_verifier)
    claims = client.validate_id_token(tokens["id_token"], nonce=pending.nonce)
    profile = _profile(provider, claims, client, tokens)
    rules = LinkRules(
        create_accounts=provider.create_accounts,
        link_by_email=provider.link_by_email,
        group_map=provider.group_map,
        admin_groups=frozenset(provider.admin_groups),
    )
    method = f"oidc:{provider.name}"
    try:
        with view.services.db.transaction() as conn:
            ctx = dataclasses.replace(view, connection=conn)
            user = IdentityRepository(conn).sign_in(profile, rules)
            token = finish_signin(ctx, user, method=method, kind="browser")
    except (NoAccount, InactiveAccount) as exc:  # who it was, for the administrator who reads the trail
        reason = "no account" if isinstance(exc, NoAccount) else "account deactivated"
        signin_refused(view, method, username=profile.email, reason=reason, outcome="refused", subject=profile.subject)
        raise
    oidc_flow.remember_for_signout(view, token, provider.name, tokens["id_token"])
    response = view.redirect(local_next(pending.next, "/"))
    sessions.start(response, view.request, token)
    oidc_flow.unbind(response)
    return response


def _groups(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list):
        return tuple(str(g) for g in value if isinstance(g, (str, int)))
    if isinstance(value, str):
        return (value,)
    return None


def _profile(
    provider: OidcProvider, claims: dict[str, Any], client: OidcClient, tokens: dict[str, Any]
) -> ExternalProfile:
    """The person as the ID token describes them; what it lacks (e-mail, groups) from the userinfo endpoint, whose
    answer counts only when it is about the same subject (Core §5.3.2)."""
    found = dict(claims)
    groups = _groups(found.get(provider.groups_claim))
    if (not found.get("email") or groups is None) and isinstance(tokens.get("access_token"), str):
        extra = client.userinfo(tokens["access_token"])
        if extra.get("sub") == claims["sub"]:
            found = {**extra, **{k: v for k, v in found.items() if v not in (None, "")}}
            groups = groups if groups is not None else _groups(found.get(provider.groups_claim))
    email = found.get("email") if isinstance(found.get("email"), str) else None
    name = found.get("name") or " ".join(
        str(found[part]) for part in ("given_name", "family_name") if isinstance(found.get(part), str)
    )
    return ExternalProfile(
        provider=f"oidc:{provider.name}",
        subject=str(claims["sub"]),
        email=email.strip() if email else None,
        email_verified=found.get("email_verified") is True,
        full_name=str(name or "").strip(),
        groups=groups or (),
    )


def provider_signout_url(ctx: Ctx, session_token: str) -> str | None:
    """Where to send a browser whose session came from a provider with an end-session endpoint, else None."""
    kept = oidc_flow.recall_for_signout(ctx, session_token)
    if kept is None:
        return None
    provider = ctx.services.settings.oidc_provider(kept[0])
    if provider is None:
        return None
    back = str(ctx.request.base_url).rstrip("/") + "/signin"
    return client_for(ctx, provider).end_session_url(kept[1], back)


ROUTES = [start, callback]
