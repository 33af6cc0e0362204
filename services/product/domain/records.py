"""What the product service keeps in its own tables (SPEC 3.3, 3.6): templates, each task's
metering record, quota settings and the exports made. Plain frozen values; `store` reads and
writes them, `templates`, `quotas` and `billing` reason about them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.engine.domain.states import TERMINAL, State

# The engine's task states, as the product reads them from summaries: ended, or not yet.
ENDED: tuple[str, ...] = tuple(s.value for s in State if s in TERMINAL)
ACTIVE: tuple[str, ...] = tuple(s.value for s in State if s not in TERMINAL)
QUOTAS = ("concurrent_tasks", "daily_tokens", "daily_usd", "daily_exports")
SCOPES = ("owner", "tenant")
QUOTA_UNITS = {
    "concurrent_tasks": "active tasks",
    "daily_tokens": "tokens",
    "daily_usd": "USD",
    "daily_exports": "exports",
}


@dataclass(frozen=True, slots=True)
class TemplateField:
    """An input a run from the template must (or may) supply: never its value."""

    name: str
    type: str = "string"
    required: bool = True
    sensitive: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    template_id: str
    name: str
    owner: str
    tenant: str
    source_task_id: str
    goal: str  # redacted
    plan_id: str
    plan_version: int
    plan_yaml: str  # "" when the plan is in the engine's catalog
    default_mode: str
    budget_tokens: int | None
    budget_usd: float | None
    budget_seconds: float | None
    priority: int
    input_fields: tuple[TemplateField, ...]
    degrade: dict[str, Any]  # node id -> the variant the source run settled on
    created_ns: int


@dataclass(frozen=True, slots=True)
class MeteringRecord:
    """What one task used. The figures from its trace summary are replaced on each refresh;
    `exports` and `compares` are counted by the product service and only ever grow."""

    task_id: str
    owner: str
    tenant: str
    day: str  # the UTC day the task was created, YYYY-MM-DD
    state: str
    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = 0.0
    tool_ms: int = 0
    events: int = 0
    blob_bytes: int = 0
    exports: int = 0
    compares: int = 0
    updated_ns: int = 0
    cost_seqs: tuple[int, ...] = ()  # set once the task has ended
    ended: bool = False

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


@dataclass(frozen=True, slots=True)
class QuotaSetting:
    scope: str  # a SCOPES value
    subject: str  # the owner or tenant
    quota: str  # a QUOTAS value
    limit: float  # 0: unlimited
    set_by: str = ""
    set_ns: int = 0


@dataclass(frozen=True, slots=True)
class ExportRecord:
    task_id: str
    owner: str  # who exported (the caller), the subject of the daily_exports quota
    tenant: str
    day: str
    at_ns: int
    size: int
    extra: dict[str, Any] = field(default_factory=dict)
