"""Interactive API documentation at `/api/docs`: Swagger UI over /api/openapi.json.

The Swagger UI files come from the `swagger-ui-bundle` package and are served by this app (no CDN: the page works
on a machine without internet access, and no third party learns who reads the documentation).
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

ASSETS_DIR = Path(swagger_ui_bundle.swagger_ui_path)
ASSETS_URL = "/api/docs/assets"
PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>opentr API</title>
  <link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{ASSETS_URL}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
  <script src="{ASSETS_URL}/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "/api/openapi.json",
      dom_id: "#swagger-ui",
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
      persistAuthorization: true
    }});
  </script>
</body>
</html>
"""


async def docs_page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


ROUTES: list[BaseRoute] = [
    Route("/api/docs", docs_page, methods=["GET", "HEAD"]),
    Mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets"),
]
