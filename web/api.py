"""Every resource module's router, in the order their routes are matched."""

from __future__ import annotations

from web import admin, auth, health
from web.endpoint import Endpoint

ROUTERS = [health.router, auth.router, admin.router]


def all_endpoints() -> list[Endpoint]:
    return [endpoint for router in ROUTERS for endpoint in router.endpoints]
