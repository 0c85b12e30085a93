"""The image's web role serves the admin's and the API docs' static files itself.

The Dockerfile collects them into STATIC_ROOT at build time; before WhiteNoise nothing served that
directory (no proxy in the compose file either), so /admin/ came unstyled and without its JavaScript
and /api/docs was an empty page, while every unit test passed: the test server serves static files
on its own. Here the collection runs as in the image, then gunicorn (DEBUG off) is asked over HTTP.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.system


def test_gunicorn_serves_the_admin_css_and_the_swagger_ui_that_the_pages_link(stack_factory) -> None:
    stack = stack_factory()
    stack.env["STATIC_ROOT"] = str(stack.workdir / "static")
    stack.manage("collectstatic", "--noinput", "-v0")  # the image's build step (Dockerfile)
    stack.start_web()

    login_page = stack.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
    docs_page = stack.get("/api/docs")
    assert login_page.status_code == 200, login_page.text[:300]
    assert docs_page.status_code == 200, docs_page.text[:300]

    linked = re.findall(r'(?:href|src)="(/static/[^"]+)"', login_page.text + docs_page.text)
    assert any(path.endswith("admin/css/base.css") for path in linked), linked
    assert any("swagger-ui" in path and path.endswith(".js") for path in linked), linked
    for path in linked:
        response = stack.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        assert response.content, path
    css = stack.get("/static/admin/css/base.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "max-age" in css.headers.get("cache-control", "")
    assert stack.get("/static/admin/css/nothing-here.css").status_code == 404
