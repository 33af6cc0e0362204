"""The `llm` agent: one call to an OpenAI-compatible chat endpoint, metered, the prompt unstored.

Only a hash and the length of the prompt leave this module (in the `llm.call` event); the
prompt itself is sent to the provider and forgotten.
"""

from __future__ import annotations

import _string  # the parser str.format uses; lets templates index but never reach attributes
import asyncio
import hashlib
import string
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson

from services.engine.domain.agents.base import (
    AgentContext,
    AgentResult,
    CostIssue,
    Failure,
    SpecIssue,
    ToolIssue,
    Usage,
)
from services.engine.domain.agents.settings import (
    PRICES_VAR,
    PROVIDERS_EXAMPLE,
    PROVIDERS_VAR,
    AgentSettings,
    LlmProvider,
)

DEFAULT_MAX_TOKENS = 1024


class Template(string.Formatter):
    """`str.format` limited to indexing: `{inputs[city]}`, `{upstream[plan][steps]}`. Attribute
    access (`{inputs.__class__}`) is refused, since it could reach any object in the process;
    mappings and lists are rendered as JSON."""

    def get_field(
        self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[Any, str]:
        first, rest = _string.formatter_field_name_split(field_name)
        if first not in kwargs:
            raise SpecIssue(
                f"prompt field {{{field_name}}}: {first!r} is unknown; use {sorted(kwargs)}",
                signals={"field": field_name},
            )
        value = kwargs[first]
        for is_attribute, key in rest:
            if is_attribute:
                raise SpecIssue(
                    f"prompt field {{{field_name}}} reads an attribute; only [key] lookups work",
                    signals={"field": field_name},
                )
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                raise SpecIssue(
                    f"prompt field {{{field_name}}}: no {key!r} there",
                    signals={"field": field_name},
                ) from None
        return value, str(first)

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mapping | list) and not format_spec:
            return orjson.dumps(value, default=str).decode()
        return str(super().format_field(value, format_spec))


class LlmAgent:
    """Config `{provider?, model?, system?, prompt, max_tokens, temperature, output_json}`;
    `prompt` and `system` are templates over `inputs` and `upstream`."""

    kind = "llm"

    def __init__(self, settings: AgentSettings) -> None:
        self._settings = settings

    async def execute(self, context: AgentContext, task_id: str) -> AgentResult:
        config = context.config
        provider = self._provider(config.get("provider"))
        model = config.get("model") or provider.default_model
        if not isinstance(model, str) or not model:
            raise SpecIssue(
                f"no model for provider {provider.name!r}: set config.model or ';model=...' "
                f"in {PROVIDERS_VAR}"
            )
        max_tokens = config.get("max_tokens", DEFAULT_MAX_TOKENS)
        if type(max_tokens) is not int or max_tokens <= 0:
            raise SpecIssue(f"config.max_tokens must be a positive integer, got {max_tokens!r}")
        remaining = context.budget.tokens
        if remaining is not None and max_tokens > remaining:
            raise CostIssue(
                f"max_tokens {max_tokens} exceeds the {remaining} tokens left in the budget",
                signals={"max_tokens": max_tokens, "tokens_remaining": remaining},
            )
        prompt, messages = self._messages(context)
        body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
        if "temperature" in config:
            body["temperature"] = config["temperature"]
        headers = {"Content-Type": "application/json"}
        key = self._settings.secret(provider.api_key) if provider.api_key else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"

        await context.limits.acquire(f"llm:{provider.name}")
        started = time.monotonic()
        answer = await _call(provider, headers, body, min(provider.timeout_s, context.timeout_s))
        latency_ms = round((time.monotonic() - started) * 1000)
        text, finish_reason, tokens_in, tokens_out, answered_model = _parse(answer, provider, model)

        price = self._settings.llm_prices.get(model) or self._settings.llm_prices.get(
            answered_model
        )
        usd = price.usd(tokens_in, tokens_out) if price else 0.0
        if price is None:
            context.events.emit(
                "llm.price_unknown",
                {"provider": provider.name, "model": model, "hint": f"add it to {PRICES_VAR}"},
                severity=4,  # warning: the task's cost is understated
            )
        context.events.emit(
            "llm.call",
            {
                "provider": provider.name,
                "model": model,
                "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
                "prompt_chars": len(prompt),
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "usd": usd,
                "latency_ms": latency_ms,
            },
        )
        usage = Usage(tokens_in=tokens_in, tokens_out=tokens_out, usd=usd)
        output: dict[str, Any] = {
            "text": text,
            "model": answered_model,
            "finish_reason": finish_reason,
        }
        if not config.get("output_json"):
            return AgentResult(output=output, usage=usage)
        try:
            output["json"] = orjson.loads(_strip_fence(text))
        except orjson.JSONDecodeError as exc:
            failure = Failure(
                "data_issue", f"the model's answer is not the JSON asked for: {exc}", {}
            )
            return AgentResult(output=output, usage=usage, failure=failure)
        return AgentResult(output=output, usage=usage)

    def _provider(self, name: object) -> LlmProvider:
        providers = self._settings.llm_providers
        if not providers:
            raise SpecIssue(
                f"the llm agent needs an endpoint: set {PROVIDERS_VAR} (e.g. {PROVIDERS_EXAMPLE})"
            )
        chosen = name or self._settings.llm_default_provider or next(iter(providers))
        if not isinstance(chosen, str) or chosen not in providers:
            raise SpecIssue(
                f"config.provider {chosen!r} is not configured; known: {sorted(providers)}",
                signals={"provider": repr(chosen)},
            )
        return providers[chosen]

    def _messages(self, context: AgentContext) -> tuple[str, list[dict[str, str]]]:
        template = context.config.get("prompt")
        system = context.config.get("system")
        if not isinstance(template, str) or not template:
            raise SpecIssue("the llm agent needs config.prompt, e.g. 'Summarise {inputs[text]}'")
        if system is not None and not isinstance(system, str):
            raise SpecIssue("config.system must be a string")
        values = {"inputs": context.inputs, "upstream": context.upstream}
        prompt = Template().vformat(template, (), values)
        messages = [{"role": "user", "content": prompt}]
        if system:
            messages.insert(
                0, {"role": "system", "content": Template().vformat(system, (), values)}
            )
        return prompt, messages


async def _call(
    provider: LlmProvider, headers: Mapping[str, str], body: Mapping[str, Any], timeout_s: float
) -> Any:
    url = f"{provider.base_url}/chat/completions"
    signals: dict[str, Any] = {"provider": provider.name}
    try:
        async with (
            asyncio.timeout(timeout_s),
            httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client,
        ):
            response = await client.post(url, headers=dict(headers), content=orjson.dumps(body))
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise ToolIssue(
            f"{provider.name} did not answer within {timeout_s:g}s",
            signals=signals | {"error": "timeout", "timeout_s": timeout_s},
        ) from exc
    except httpx.HTTPError as exc:
        raise ToolIssue(
            f"{provider.name} at {url} failed: {type(exc).__name__}: {exc}",
            signals=signals | {"error": type(exc).__name__},
        ) from exc
    status = response.status_code
    if status == 200:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ToolIssue(
                f"{provider.name} answered with a body that is not JSON", signals=signals
            ) from None
    signals["http_status"] = status
    message = f"{provider.name} answered {status} at {url}{_error_reason(response)}"
    if status in (401, 403):
        raise SpecIssue(f"{message} (check the provider's key)", signals=signals)
    if status in (400, 404, 422):
        raise SpecIssue(message, signals=signals)
    raise ToolIssue(message, signals=signals)


def _parse(answer: Any, provider: LlmProvider, model: str) -> tuple[str, str, int, int, str]:
    """(text, finish_reason, tokens_in, tokens_out, model) of a chat completion."""
    try:
        choice = answer["choices"][0]
        text = choice["message"]["content"] or ""
        usage = answer.get("usage") or {}
        return (
            str(text),
            str(choice.get("finish_reason") or ""),
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            str(answer.get("model") or model),
        )
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise ToolIssue(
            f"{provider.name} answered with something that is not a chat completion",
            signals={"provider": provider.name},
        ) from None


def _error_reason(response: httpx.Response) -> str:
    """The provider's own error message (OpenAI's `{"error": {"message"}}`), never the raw body:
    some servers echo the request, prompt included, in their validation errors."""
    try:
        reason = orjson.loads(response.content)["error"]["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return ""
    return f": {str(reason)[:300]}" if reason else ""


def _strip_fence(text: str) -> str:
    """Models often wrap JSON in a ``` fence even when asked not to."""
    text = text.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text[3:-3]
        text = text.removeprefix("json")
    return text.strip()
