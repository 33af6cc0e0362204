"""What the built-in agents are configured with, and how to build it from environment strings.

The engine's settings module calls `parse_agent_settings` once with its environment; agents
receive the result through their constructors. Secrets stay references (`secret://NAME`) until call time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agentledger.core.errors import InvalidArgument
from agentledger.core.settings import Env
from services.engine.domain.agents.base import SpecIssue

PROVIDERS_VAR = "AGENTLEDGER_LLM_PROVIDERS"
DEFAULT_PROVIDER_VAR = "AGENTLEDGER_LLM_DEFAULT_PROVIDER"
PRICES_VAR = "AGENTLEDGER_LLM_PRICES"
AGENTS_VAR = "AGENTLEDGER_AGENTS"
PROVIDERS_EXAMPLE = (
    f"{PROVIDERS_VAR}='openai=https://api.openai.com/v1;model=gpt-4o-mini;"
    "key=secret://OPENAI_API_KEY'"
)
SECRET_PREFIX = "secret://"
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KIND = re.compile(r"[a-z][a-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class Price:
    usd_per_1k_in: float
    usd_per_1k_out: float

    def usd(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.usd_per_1k_in + tokens_out * self.usd_per_1k_out) / 1000


@dataclass(frozen=True, slots=True)
class LlmProvider:
    """An OpenAI-compatible chat endpoint; `api_key` is a literal or a `secret://NAME`."""

    name: str
    base_url: str  # e.g. https://api.openai.com/v1 (no trailing slash)
    api_key: str = field(default="", repr=False)
    default_model: str = ""
    timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class AgentSettings:
    command_timeout_default_s: float = 300.0
    # HOME is not inherited: the command agent points it at the task's working folder.
    command_env_allowlist: tuple[str, ...] = ("PATH", "LANG", "LC_ALL", "TZ")
    max_output_bytes: int = 1_048_576  # per captured stream or response body
    http_timeout_s: float = 30.0
    http_allowed_hosts: frozenset[str] = frozenset()  # empty: any; "*.example.com" matches subs
    llm_providers: Mapping[str, LlmProvider] = field(default_factory=dict)
    llm_default_provider: str = ""
    llm_prices: Mapping[str, Price] = field(default_factory=dict)  # by model name
    custom_agents: Mapping[str, str] = field(default_factory=dict)  # kind -> "pkg.mod:Class"
    # The engine's environment as it was handed over: the source of allowlisted command
    # variables and of secret:// values. Never printed, since it holds credentials.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    secrets_dir: Path | None = None  # a mounted secrets folder: one file per secret

    def command_env(self) -> dict[str, str]:
        """The allowlisted variables a command inherits from the engine."""
        return {k: self.environ[k] for k in self.command_env_allowlist if k in self.environ}

    def secret(self, value: str) -> str:
        """`value` itself, or the current value of the secret it references (`secret://NAME`).

        Resolved at call time so that a rotated secret file takes effect without a restart."""
        if not value.startswith(SECRET_PREFIX):
            return value
        name = value[len(SECRET_PREFIX) :]
        if not _SECRET_NAME.fullmatch(name):
            raise SpecIssue(
                f"{value!r} is not a secret reference; use secret://NAME with NAME made of "
                "letters, digits and underscores",
                signals={"secret": name},
            )
        if name.upper().startswith("AGENTLEDGER_"):
            # The platform's own configuration (database URLs, keys) is never an agent's secret:
            # a plan could otherwise read it back through a header or a prompt.
            raise SpecIssue(
                f"secret {name!r} is the platform's own configuration, not an agent secret; "
                "give the agent a secret of its own",
                signals={"secret": name},
            )
        if self.secrets_dir is not None and (self.secrets_dir / name).is_file():
            return (self.secrets_dir / name).read_text().strip()
        if name in self.environ:
            return self.environ[name]
        where = f" or put it in {self.secrets_dir / name}" if self.secrets_dir else ""
        raise SpecIssue(
            f"secret {name!r} is not set: export {name} for the engine{where}",
            signals={"secret": name},
        )


def parse_agent_settings(environ: Mapping[str, str]) -> AgentSettings:
    """Builds the agents' settings from an environment mapping (the engine passes its own);
    a malformed value raises InvalidArgument naming its variable."""
    env = Env(environ)
    providers = parse_llm_providers(env.text(PROVIDERS_VAR, ""))
    default = env.text(DEFAULT_PROVIDER_VAR, next(iter(providers), ""))
    if default and default not in providers:
        raise InvalidArgument(
            f"{DEFAULT_PROVIDER_VAR}={default!r} names no provider of {PROVIDERS_VAR}; "
            f"known: {sorted(providers) or 'none'}"
        )
    secrets_dir = env.text("AGENTLEDGER_SECRETS_DIR", "")
    return AgentSettings(
        command_timeout_default_s=env.number("AGENTLEDGER_COMMAND_TIMEOUT_S", 300.0, minimum=0.001),
        command_env_allowlist=tuple(
            _split(env.text("AGENTLEDGER_COMMAND_ENV_ALLOWLIST", "PATH,LANG,LC_ALL,TZ"))
        ),
        max_output_bytes=env.integer("AGENTLEDGER_AGENT_MAX_OUTPUT_BYTES", 1_048_576, minimum=1),
        http_timeout_s=env.number("AGENTLEDGER_HTTP_TIMEOUT_S", 30.0, minimum=0.001),
        http_allowed_hosts=frozenset(
            h.lower() for h in _split(env.text("AGENTLEDGER_HTTP_ALLOWED_HOSTS", ""))
        ),
        llm_providers=providers,
        llm_default_provider=default,
        llm_prices=parse_llm_prices(env.text(PRICES_VAR, "")),
        custom_agents=parse_custom_agents(env.text(AGENTS_VAR, "")),
        environ=environ,
        secrets_dir=Path(secrets_dir) if secrets_dir else None,
    )


def parse_llm_providers(text: str) -> dict[str, LlmProvider]:
    """`name=base_url[;model=M][;key=K][;timeout_s=S]`, comma-separated, or the same as a JSON
    object `{"name": {"base_url", "model", "key", "timeout_s"}}`."""
    if not text.strip():
        return {}
    entries: dict[str, dict[str, Any]] = {}
    if text.lstrip().startswith("{"):
        for name, options in _json_object(text, PROVIDERS_VAR).items():
            if not isinstance(options, dict):
                raise InvalidArgument(f"{PROVIDERS_VAR}: provider {name!r} must be an object")
            entries[name] = options
    else:
        for entry in _split(text):
            head, *options = entry.split(";")
            name, sep, url = head.partition("=")
            if not sep:
                raise InvalidArgument(
                    f"{PROVIDERS_VAR}: {entry!r} is not name=base_url; e.g. {PROVIDERS_EXAMPLE}"
                )
            pairs = [o.partition("=") for o in options if o.strip()]
            entries[name.strip()] = {"base_url": url.strip()} | {
                k.strip(): v.strip() for k, _, v in pairs
            }
    return {name: _provider(name, options) for name, options in entries.items()}


def _provider(name: str, options: Mapping[str, Any]) -> LlmProvider:
    where = f"{PROVIDERS_VAR}: provider {name!r}"
    unknown = set(options) - {"base_url", "model", "key", "timeout_s"}
    if unknown:
        raise InvalidArgument(
            f"{where} has unknown options {sorted(unknown)}; use model, key, timeout_s"
        )
    if not _KIND.fullmatch(name):
        raise InvalidArgument(f"{where}: names are lowercase letters, digits, '_', '.', '-'")
    url = str(options.get("base_url", "")).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidArgument(f"{where}: base_url {url!r} is not an http(s) URL")
    try:
        timeout_s = float(options.get("timeout_s", 60.0))
    except (TypeError, ValueError):
        timeout_s = -1.0
    if not timeout_s > 0:
        raise InvalidArgument(f"{where}: timeout_s must be a positive number of seconds")
    return LlmProvider(
        name=name,
        base_url=url,
        api_key=str(options.get("key", "")),
        default_model=str(options.get("model", "")),
        timeout_s=timeout_s,
    )


def parse_llm_prices(text: str) -> dict[str, Price]:
    """JSON by model: `{"gpt-4o-mini": {"in": 0.00015, "out": 0.0006}}` or `[in, out]`, in USD
    per 1,000 tokens."""
    if not text.strip():
        return {}
    prices: dict[str, Price] = {}
    for model, value in _json_object(text, PRICES_VAR).items():
        if isinstance(value, dict):
            pair = [
                value.get("in", value.get("usd_per_1k_in")),
                value.get("out", value.get("usd_per_1k_out")),
            ]
        else:
            pair = value if isinstance(value, list) and len(value) == 2 else [None, None]
        numbers = [float(p) for p in pair if isinstance(p, int | float) and not isinstance(p, bool)]
        if len(numbers) != 2 or min(numbers) < 0:
            raise InvalidArgument(
                f'{PRICES_VAR}: the price of {model!r} must be {{"in": usd, "out": usd}} per '
                f"1k tokens (non-negative numbers), got {value!r}"
            )
        prices[model] = Price(numbers[0], numbers[1])
    return prices


def parse_custom_agents(text: str) -> dict[str, str]:
    """`kind=pkg.mod:Class`, comma-separated."""
    agents: dict[str, str] = {}
    for entry in _split(text):
        kind, _, path = (p.strip() for p in entry.partition("="))
        module, _, name = path.partition(":")
        if not _KIND.fullmatch(kind) or not module or not name:
            raise InvalidArgument(
                f"{AGENTS_VAR}: {entry!r} is not kind=pkg.module:ClassName "
                "(kind in lowercase letters, digits, '_', '.', '-')"
            )
        agents[kind] = path
    return agents


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _json_object(text: str, var: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{var} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{var} must be a JSON object")
    return value
