"""The OpenAPI schema tells the whole truth (config/openapi.py, config/api.py's error table): one error
schema whose ``code`` enum is every code the API emits, every error answer declared where it can
happen, ``Retry-After`` on 429, the input rules of the schemas, a summary and a description everywhere."""

from __future__ import annotations

import ast
import gc
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import pytest
from django.conf import settings
from django.test import Client

import modules
from config import middleware
from config.api import HTTP_ERRORS, api
from config.openapi import domain_errors
from modules.common.errors import DomainError, Forbidden, raises

ROOT = Path(__file__).resolve().parents[2]
ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return Client().get("/api/v1/openapi.json").json()


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def error_answers(schema: dict[str, Any]) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    for path, method, operation in operations(schema):
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                yield path, method, int(status), answer


def codes_of(answer: dict[str, Any]) -> set[str]:
    return set(answer["content"]["application/json"].get("examples", {}))


def enum(schema: dict[str, Any]) -> set[str]:
    return set(schema["components"]["schemas"]["Error"]["properties"]["code"]["enum"])


# --- Every code the API emits ------------------------------------------------------------------------


def _import_every_module() -> None:
    for info in pkgutil.walk_packages(modules.__path__, "modules."):
        if ".migrations" not in info.name and ".management" not in info.name:
            importlib.import_module(info.name)


def _literal_codes(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """String codes written in the source: ``code="..."`` given to ``error_response``, a ``code = "..."``
    class attribute, and a dict display with ``"detail"`` and a literal ``"code"``."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) == "error_response"
        ):
            for keyword in node.keywords:
                if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                    yield node.lineno, keyword.value.value
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                targets = statement.targets if isinstance(statement, ast.Assign) else []
                if (
                    any(getattr(target, "id", "") == "code" for target in targets)
                    and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)
                ):
                    yield statement.lineno, statement.value.value
        elif isinstance(node, ast.Dict):
            keys = [key.value for key in node.keys if isinstance(key, ast.Constant)]
            if "detail" in keys and "code" in keys:
                value = node.values[keys.index("code")]
                if isinstance(value, ast.Constant):
                    yield node.lineno, value.value


def test_the_code_enum_is_exactly_every_code_the_api_emits(schema: dict[str, Any]) -> None:
    """A new code anywhere (a domain error, a handler, the middleware, a hand-built body) fails here
    until the schema declares it; a declared code nobody emits fails too."""
    _import_every_module()
    emitted = {code for code, _ in HTTP_ERRORS.values()}
    emitted |= {code for _, code in middleware._CODES.values()}
    emitted |= {error.code for error in domain_errors()}
    written: dict[str, str] = {}
    for path in [*ROOT.joinpath("config").glob("*.py"), *ROOT.joinpath("modules").rglob("*.py")]:
        if "migrations" in path.parts:
            continue
        for line, code in _literal_codes(ast.parse(path.read_text(), filename=str(path))):
            written.setdefault(code, f"{path.relative_to(ROOT)}:{line}")
    undeclared = {code: where for code, where in written.items() if code not in enum(schema)}
    assert undeclared == {}
    assert enum(schema) == emitted | set(written)


def test_a_new_domain_error_is_declared_with_its_status(schema: dict[str, Any]) -> None:
    class PlanFrozen(Forbidden):
        code = "plan_frozen"

    fresh = api.get_openapi_schema()
    assert "plan_frozen" in enum(fresh)
    assert "plan_frozen" not in enum(schema)
    del PlanFrozen
    gc.collect()  # the class is gone from DomainError's subclasses, and so from later schemas
    assert "plan_frozen" not in enum(api.get_openapi_schema())


def test_every_error_answer_uses_the_one_error_schema(schema: dict[str, Any]) -> None:
    for path, method, status, answer in error_answers(schema):
        if (path, status) == ("/api/v1/health/ready/", 503):
            continue  # the readiness answer: its checks beside detail and code
        if status == 414:
            assert set(answer["content"]) == {"text/html"}  # the HTTP server's page, before the API
            continue
        assert answer["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)
        assert codes_of(answer) <= enum(schema), (method, path, status)
        for code in codes_of(answer):
            assert f"`{code}`" in answer["description"], (method, path, status, code)
    shapes = [
        name
        for name, component in schema["components"]["schemas"].items()
        if set(component.get("properties", {})) == {"detail", "code"}
    ]
    assert shapes == ["Error"]


def test_422_items_are_typed_everywhere(schema: dict[str, Any]) -> None:
    detail = schema["components"]["schemas"]["Error"]["properties"]["detail"]
    item = detail["anyOf"][1]["items"]
    assert item["required"] == ["type", "loc", "msg"]
    assert set(item["properties"]) == {"type", "loc", "msg"}
    assert "'additionalProperties': True" not in str(schema)  # no {[k: string]: unknown} anywhere


def test_every_429_declares_its_retry_after(schema: dict[str, Any]) -> None:
    throttled = [answer for _, _, status, answer in error_answers(schema) if status == 429]
    assert len(throttled) > 40
    for answer in throttled:
        assert answer["headers"]["Retry-After"]["required"] is True
        assert answer["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_every_operation_has_a_summary_and_a_description(schema: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(schema)
        if not operation.get("summary") or len(operation.get("description", "")) < 20
    ]
    assert missing == []


def test_the_forbidden_answers_are_declared_where_they_happen(schema: dict[str, Any]) -> None:
    def codes(path: str, method: str, status: int) -> set[str]:
        return codes_of(schema["paths"][path][method]["responses"][str(status)])

    assert codes("/api/v1/content/", "post", 403) == {"email_not_verified"}
    for path in ("generate", "evaluate", "analyze", "jobs"):
        assert codes(f"/api/v1/ai-review/{path}/", "post", 403) == {"email_not_verified", "tier_required"}
    assert codes("/api/v1/ai-review/generate/", "post", 429) == {"throttled", "quota_exceeded"}
    assert codes("/api/v1/ai-review/generate/", "post", 503) == {"unavailable"}
    admin = [path for path in schema["paths"] if path.startswith("/api/v1/monitoring/")]
    admin.append("/api/v1/analytics/subscriptions/")
    for path in admin:
        for method in schema["paths"][path]:
            assert codes(path, method, 403) == {"forbidden"}, path
    assert "403" not in schema["paths"]["/api/v1/review/today/"]["get"]["responses"]


def test_bad_credentials_and_bad_tokens_have_distinct_codes(schema: dict[str, Any]) -> None:
    def codes(path: str) -> set[str]:
        return codes_of(schema["paths"][path]["post"]["responses"]["401"])

    assert codes("/api/v1/auth/token/") == {"invalid_credentials"}
    assert codes("/api/v1/auth/google/") == {"invalid_credentials"}
    assert codes("/api/v1/auth/token/refresh/") == {"token_invalid"}
    assert codes_of(schema["paths"]["/api/v1/review/today/"]["get"]["responses"]["401"]) == {
        "not_authenticated",
        "token_invalid",
    }


def test_raises_adds_up_and_keeps_the_function() -> None:
    @raises(Forbidden)
    @raises(DomainError)
    def view() -> str:
        return "ok"

    assert view() == "ok"
    assert view.domain_errors == (DomainError, Forbidden)  # type: ignore[attr-defined]


# --- Input rules -----------------------------------------------------------------------------------------


def component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return schema["components"]["schemas"][name]["properties"]


def test_registration_rules_are_in_the_schema(schema: dict[str, Any]) -> None:
    register = component(schema, "RegisterIn")
    assert register["email"]["format"] == "email"
    minimum = next(
        validator["OPTIONS"]["min_length"]
        for validator in settings.AUTH_PASSWORD_VALIDATORS
        if validator["NAME"].endswith("MinimumLengthValidator")
    )
    assert register["password"]["minLength"] == minimum
    assert component(schema, "PasswordChangeIn")["new_password"]["minLength"] == minimum
    assert component(schema, "PasswordResetConfirmIn")["new_password"]["minLength"] == minimum
    assert "minLength" not in component(schema, "TokenObtainIn")["password"]  # any password is checked


def test_the_timezone_pattern_admits_every_zone_the_server_knows(schema: dict[str, Any]) -> None:
    timezone = component(schema, "RegisterIn")["timezone"]
    pattern = re.compile(timezone["pattern"])
    assert all(pattern.match(name) for name in available_timezones())
    assert not pattern.match("../etc/passwd") and not pattern.match("Europe Paris")


def test_generation_lists_are_non_empty_and_unique(schema: dict[str, Any]) -> None:
    job = component(schema, "JobIn")
    assert job["content_ids"]["minItems"] == 1 and job["content_ids"]["uniqueItems"] is True
    assert job["content_ids"]["items"]["minimum"] == 1
    for name in ("JobIn", "GenerateIn"):
        types = component(schema, name)["question_types"]
        assert types["uniqueItems"] is True and types["minItems"] == 1


def test_history_exposes_its_cursors_and_bounds_its_page_size(schema: dict[str, Any]) -> None:
    history = schema["paths"]["/api/v1/review/history/"]["get"]
    page_size = next(parameter for parameter in history["parameters"] if parameter["name"] == "page_size")
    assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"]) == (1, 100)
    assert page_size["schema"]["type"] == "integer"
    ref = history["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"next", "previous", "next_cursor", "previous_cursor", "results"} == set(page["properties"])
    assert page["properties"]["next"]["anyOf"][0] == {"type": "string", "format": "uri"}


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/auth/register/", "post"),
        ("/api/v1/auth/token/", "post"),
        ("/api/v1/content/", "post"),
        ("/api/v1/review/complete/", "post"),
        ("/api/v1/review/today/", "get"),
    ],
)
def test_the_main_operations_have_examples(schema: dict[str, Any], path: str, method: str) -> None:
    operation = schema["paths"][path][method]
    models = []
    if "requestBody" in operation:
        models.append(operation["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    success = next(answer for status, answer in operation["responses"].items() if status.startswith("2"))
    models.append(success["content"]["application/json"]["schema"]["$ref"])
    for ref in models:
        assert schema["components"]["schemas"][ref.rsplit("/", 1)[1]].get("examples"), ref


def test_a_url_that_carries_input_declares_the_servers_414(schema: dict[str, Any]) -> None:
    assert "414" in schema["paths"]["/api/v1/review/history/"]["get"]["responses"]
    assert "414" in schema["paths"]["/api/v1/content/{content_id}/"]["get"]["responses"]
    assert "414" not in schema["paths"]["/api/v1/analytics/dashboard/"]["get"]["responses"]
