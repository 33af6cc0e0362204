"""Engine configuration, read once from the environment by the process entry point."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentledger.core.db import sqlite_url
from agentledger.core.errors import InvalidArgument
from agentledger.core.settings import CommonSettings, Env
from services.engine.domain.agents.settings import AgentSettings, parse_agent_settings
from services.engine.domain.plan_catalog import BUILTIN_PLANS_DIR
from services.engine.domain.plan_selection import BUILTIN_RULES_PATH
from services.engine.domain.ratelimit import Rate

DEFAULT_ADDR = "127.0.0.1:50052"


@dataclass(frozen=True)
class EngineSettings:
    common: CommonSettings
    listen: str
    db_url: str
    db_schema: str
    trace_store_target: str
    optimizer_target: str  # "" = run without the optimizer's proposals
    product_target: str  # "" = no quota check at submission
    plan_dirs: tuple[Path, ...]  # the built-in folder first, then the configured ones
    selection_rules: Path
    tasks_dir: Path  # per task: system_trace.json, artifacts/, work/
    workers: int  # tasks this process runs at once
    max_running: int  # across every engine process; 0 = no limit beyond workers
    max_per_owner: int
    lease_s: float
    poll_s: float
    summary_every_s: float
    worker_id: str
    rate_limits: Mapping[str, Rate]
    # SQLite only: commit on the event loop instead of a writer thread (one process, one
    # writer: saves a thread hand-off per step, at the cost of a loop that waits on commits).
    inline_writes: bool
    agents: AgentSettings
    # Seals inputs a plan marks sensitive. Empty: a key file made in the data folder.
    inputs_key: bytes = b""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EngineSettings:
        env = Env(environ)
        common = CommonSettings.from_env(environ)
        extra = [Path(p) for p in env.text("AGENTLEDGER_ENGINE_PLAN_DIRS", "").split(",") if p]
        lease_s = env.number("AGENTLEDGER_ENGINE_LEASE_SECONDS", 30.0, minimum=0.05)
        return cls(
            common=common,
            listen=env.text("AGENTLEDGER_ENGINE_LISTEN", DEFAULT_ADDR),
            db_url=env.text(
                "AGENTLEDGER_ENGINE_DB_URL",
                env.text("AGENTLEDGER_DB_URL", sqlite_url(common.data_dir, "engine")),
            ),
            db_schema=env.text("AGENTLEDGER_ENGINE_DB_SCHEMA", ""),
            trace_store_target=env.text("AGENTLEDGER_TRACE_STORE_ADDR", "127.0.0.1:50051"),
            optimizer_target=env.text("AGENTLEDGER_OPTIMIZER_ADDR", ""),
            product_target=env.text("AGENTLEDGER_PRODUCT_ADDR", ""),
            plan_dirs=(BUILTIN_PLANS_DIR, *extra),
            selection_rules=Path(
                env.text("AGENTLEDGER_ENGINE_SELECTION_RULES", str(BUILTIN_RULES_PATH))
            ),
            tasks_dir=Path(
                env.text("AGENTLEDGER_ENGINE_TASKS_DIR", str(common.data_dir / "tasks"))
            ),
            workers=env.integer("AGENTLEDGER_ENGINE_WORKERS", 8, minimum=1),
            max_running=env.integer("AGENTLEDGER_ENGINE_MAX_RUNNING", 0, minimum=0),
            max_per_owner=env.integer("AGENTLEDGER_ENGINE_MAX_PER_OWNER", 0, minimum=0),
            lease_s=lease_s,
            poll_s=env.number("AGENTLEDGER_ENGINE_POLL_SECONDS", 0.5, minimum=0.001),
            summary_every_s=env.number("AGENTLEDGER_ENGINE_SUMMARY_SECONDS", 1.0, minimum=0.0),
            worker_id=env.text(
                "AGENTLEDGER_ENGINE_WORKER_ID", f"{socket.gethostname()}-{os.getpid()}"
            ),
            rate_limits=parse_rate_limits(env.text("AGENTLEDGER_RATE_LIMITS", "")),
            inline_writes=env.flag("AGENTLEDGER_ENGINE_INLINE_WRITES", False),
            agents=parse_agent_settings(env.environ),
            inputs_key=_inputs_key(env),
        )


def parse_rate_limits(text: str) -> dict[str, Rate]:
    """`llm:openai=2/s:5,tool:http=10/s`: per key, calls per second and an optional burst."""
    out: dict[str, Rate] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        key, sep, spec = item.partition("=")
        try:
            rate, _, burst = spec.removesuffix("/s").partition("/s:")
            per_second = float(rate)
            out[key.strip()] = Rate(per_second, float(burst) if burst else max(per_second, 1.0))
        except (ValueError, InvalidArgument) as exc:
            raise InvalidArgument(
                f"AGENTLEDGER_RATE_LIMITS: {item!r} is not KEY=RATE/s[:BURST]"
                f" (e.g. llm:openai=2/s:5): {exc}"
            ) from None
        if not sep or not key.strip():
            raise InvalidArgument(f"AGENTLEDGER_RATE_LIMITS: {item!r} is not KEY=RATE/s[:BURST]")
    return out


def _inputs_key(env: Env) -> bytes:
    """AGENTLEDGER_ENGINE_INPUTS_KEY(_FILE), else the mesh key (AGENTLEDGER_MESH_KEY(_FILE)):
    every engine replica must seal and unseal with the same secret."""
    for name in ("AGENTLEDGER_ENGINE_INPUTS_KEY", "AGENTLEDGER_MESH_KEY"):
        if value := env.text(name, ""):
            return value.encode()
        if path := env.text(f"{name}_FILE", ""):
            try:
                return Path(path).read_bytes().strip()
            except OSError as exc:
                raise InvalidArgument(
                    f"{name}_FILE={path!r} cannot be read: {exc.strerror}"
                ) from None
    return b""
