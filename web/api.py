"""Every resource module's router, in the order their routes are matched."""

from __future__ import annotations

from web import (
    admin,
    admin_audit,
    analytics,
    ask,
    auth,
    bulk,
    collections,
    comments,
    exports,
    file_uploads,
    files,
    groups,
    health,
    llm_configs,
    llm_runs,
    my_data,
    my_sessions,
    notifications,
    oidc_flow,
    password_reset,
    processing,
    prompts,
    public_links,
    questions,
    retention,
    search,
    settings,
    shares,
    speaker_names,
    speaker_profiles,
    speakers,
    summaries,
    tags,
    tasks,
    topics,
    transcripts,
    translations,
    two_factor,
    url_import,
)
from web.endpoint import Endpoint

ROUTERS = [health.router, auth.router, oidc_flow.router, my_data.router, admin.router]
ROUTERS += [processing.router, url_import.router, file_uploads.router, files.router, transcripts.router]
ROUTERS += [exports.router, bulk.router, public_links.router]
ROUTERS += [
    tags.router,
    comments.router,
    collections.router,
    search.router,
    speakers.router,
    speaker_profiles.router,
    analytics.router,
    groups.router,
    shares.router,
]

ROUTERS += [settings.router, llm_configs.router, prompts.router, summaries.router, notifications.router, tasks.router]
ROUTERS += [ask.router, questions.router, llm_runs.router]
ROUTERS += [translations.router]  # step 21: translations of a transcript
ROUTERS += [admin_audit.router]  # reading the audit trail (administrators)
ROUTERS += [retention.router]
ROUTERS += [two_factor.router, my_sessions.router, password_reset.router]  # step 19
ROUTERS += [speaker_names.router]  # step 21: speaker names proposed from the conversation
ROUTERS += [topics.router]  # step 21: a file's topics, proposed as tags and collections


def all_endpoints() -> list[Endpoint]:
    return [endpoint for router in ROUTERS for endpoint in router.endpoints]
