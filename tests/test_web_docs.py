"""/api/docs: the Swagger UI page and every asset it loads, served by the app itself."""

from __future__ import annotations

import re
from typing import Any


def test_the_docs_page_and_its_assets_load_from_the_app(client: Any) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/api/openapi.json" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui.css", "swagger-ui-bundle.js"}
    for asset in assets:
        assert asset.startswith("/api/docs/"), f"{asset} would be fetched from elsewhere"
        loaded = client.get(asset)
        assert loaded.status_code == 200 and loaded.content, asset
    script = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in script.headers["content-type"] and b"SwaggerUIBundle" in script.content
    assert client.get("/api/docs/assets/no-such-file.js").status_code == 404
