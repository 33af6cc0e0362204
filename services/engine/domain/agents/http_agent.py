"""The `http` agent: one REST call to an allowed host, its response body kept as an artifact."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from services.engine.domain.agents.base import (
    AgentContext,
    AgentResult,
    Failure,
    SpecIssue,
    ToolIssue,
    Usage,
)
from services.engine.domain.agents.settings import AgentSettings

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The caller's data was refused: other data may pass, so the plan's data handling decides.
DATA_STATUSES = frozenset({400, 409, 422})
# The service is busy, slow or broken, not the request: a retry may help.
TOOL_STATUSES = frozenset({408, 425, 429})


def host_allowed(host: str, allowed: frozenset[str]) -> bool:
    """Exact names, or `*.example.com` for its subdomains; an empty allowlist allows any."""
    host = host.lower()
    return (
        not allowed
        or host in allowed
        or any(a.startswith("*.") and host.endswith(a[1:]) for a in allowed)
    )


def classify_status(status: int) -> str:
    if status >= 500 or status in TOOL_STATUSES:
        return "tool_issue"
    if status in DATA_STATUSES:
        return "data_issue"
    if 400 <= status < 500:
        return "spec_issue"  # 401/403/404/405...: the plan calls the wrong thing or lacks a key
    return "execution_issue"  # a status the plan did not expect, e.g. a redirect


class HttpAgent:
    """Config `{method, url, headers, params, json, expect_status: [..] (default 2xx),
    timeout_s}`; header values may be `secret://NAME`. Redirects are not followed, so that
    the host allowlist cannot be stepped around."""

    kind = "http"

    def __init__(self, settings: AgentSettings) -> None:
        self._settings = settings

    async def execute(self, context: AgentContext, task_id: str) -> AgentResult:
        config = context.config
        method = str(config.get("method", "GET")).upper()
        url = config.get("url")
        if method not in METHODS:
            raise SpecIssue(f"config.method {method!r} is not one of {sorted(METHODS)}")
        if not isinstance(url, str):
            raise SpecIssue("the http agent needs config.url, e.g. https://api.example.com/items")
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise SpecIssue(f"config.url {url!r} is not an http(s) URL")
        # The query string may carry tokens: messages and signals show the URL without it.
        shown = f"{method} {parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        if not host_allowed(parts.hostname, self._settings.http_allowed_hosts):
            raise SpecIssue(
                f"{shown}: host {parts.hostname!r} is not in AGENTLEDGER_HTTP_ALLOWED_HOSTS "
                f"({', '.join(sorted(self._settings.http_allowed_hosts))})",
                signals={"host": parts.hostname},
            )
        headers = _mapping(config.get("headers"), "headers")
        headers = {k: self._settings.secret(str(v)) for k, v in headers.items()}
        params = {k: str(v) for k, v in _mapping(config.get("params"), "params").items()}
        expect = _expected(config.get("expect_status"))
        timeout_s = config.get("timeout_s", self._settings.http_timeout_s)
        if not isinstance(timeout_s, int | float) or isinstance(timeout_s, bool) or timeout_s <= 0:
            raise SpecIssue(f"config.timeout_s must be a positive number, got {timeout_s!r}")
        timeout_s = min(float(timeout_s), context.timeout_s)
        limit = self._settings.max_output_bytes

        await context.limits.acquire("tool:http")
        started = time.monotonic()
        try:
            async with (
                asyncio.timeout(timeout_s),
                httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client,
                client.stream(
                    method, url, headers=headers, params=params, json=config.get("json")
                ) as response,
            ):
                body, truncated = await _read_capped(response, limit)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ToolIssue(
                f"{shown} timed out after {timeout_s:g}s",
                signals={"error": "timeout", "timeout_s": timeout_s},
            ) from exc
        except httpx.HTTPError as exc:
            raise ToolIssue(
                f"{shown} failed: {type(exc).__name__}: {exc}",
                signals={"error": type(exc).__name__},
            ) from exc
        usage = Usage(tool_seconds=time.monotonic() - started, tool_calls=1)

        status = response.status_code
        content_type = response.headers.get("content-type", "application/octet-stream")
        output: dict[str, Any] = {"status": status}
        try:
            if "json" not in content_type or truncated:
                raise ValueError("not a complete JSON body")
            output["json"] = orjson.loads(body)
            name = "response.json"
        except ValueError:
            output["text"] = body.decode("utf-8", errors="replace")
            name = "response.txt"
        if truncated:
            output["truncated"] = True
        ref = await context.artifacts.write(name, body, content_type)
        failure = None
        if not (status in expect if expect else 200 <= status < 300):
            failure = Failure(
                classify_status(status),
                f"{shown} answered {status}, expected {sorted(expect) if expect else '2xx'}",
                {"http_status": status},
            )
        return AgentResult(output=output, usage=usage, artifacts=(ref,), failure=failure)


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The body's first `limit` bytes, and whether there was more (which is not downloaded)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise SpecIssue(f"config.{name} must map names to values")
    return value


def _expected(value: object) -> frozenset[int]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(type(s) is int for s in value):
        raise SpecIssue(f"config.expect_status must be a list of status codes, got {value!r}")
    return frozenset(value)
