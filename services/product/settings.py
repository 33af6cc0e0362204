"""Product service configuration, read once from the environment by the process entry point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agentledger.core.db import sqlite_url
from agentledger.core.errors import InvalidArgument
from agentledger.core.settings import CommonSettings, Env
from services.product.domain.quotas import QuotaDefaults
from services.product.domain.service import InsightConfig

DEFAULT_ADDR = "127.0.0.1:50054"


@dataclass(frozen=True)
class RephraserSettings:
    """An OpenAI-compatible chat endpoint that may reword the narrative; empty url: none."""

    url: str = ""
    model: str = ""
    api_key: str = field(default="", repr=False)
    timeout_s: float = 20.0


@dataclass(frozen=True)
class ProductSettings:
    common: CommonSettings
    listen: str
    db_url: str
    db_schema: str
    engine_target: str
    trace_store_target: str
    insights: InsightConfig
    quotas: QuotaDefaults
    sweep_s: float  # 0: no sweeping (goal statuses are then recorded when asked for)
    sweep_lookback_s: float
    rephraser: RephraserSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProductSettings:
        env = Env(environ)
        common = CommonSettings.from_env(environ)
        url = env.text("AGENTLEDGER_PRODUCT_REPHRASE_URL", "").rstrip("/")
        if url and not url.startswith(("http://", "https://")):
            raise InvalidArgument(f"AGENTLEDGER_PRODUCT_REPHRASE_URL={url!r} is not an http(s) URL")
        return cls(
            common=common,
            listen=env.text("AGENTLEDGER_PRODUCT_LISTEN", DEFAULT_ADDR),
            db_url=env.text(
                "AGENTLEDGER_PRODUCT_DB_URL",
                env.text("AGENTLEDGER_DB_URL", sqlite_url(common.data_dir, "product")),
            ),
            db_schema=env.text("AGENTLEDGER_PRODUCT_DB_SCHEMA", ""),
            engine_target=env.text("AGENTLEDGER_ENGINE_ADDR", "127.0.0.1:50052"),
            trace_store_target=env.text("AGENTLEDGER_TRACE_STORE_ADDR", "127.0.0.1:50051"),
            insights=InsightConfig(
                export_max_bytes=env.integer(
                    "AGENTLEDGER_PRODUCT_EXPORT_MAX_BYTES", 1 << 30, minimum=1
                ),
                narrative_max_events=env.integer(
                    "AGENTLEDGER_PRODUCT_NARRATIVE_MAX_EVENTS", 50_000, minimum=0
                ),
            ),
            quotas=QuotaDefaults.from_text(
                env.text("AGENTLEDGER_PRODUCT_QUOTAS", ""),
                env.text("AGENTLEDGER_PRODUCT_TENANT_QUOTAS", ""),
            ),
            sweep_s=env.number("AGENTLEDGER_PRODUCT_SWEEP_SECONDS", 2.0, minimum=0.0),
            sweep_lookback_s=env.number(
                "AGENTLEDGER_PRODUCT_SWEEP_LOOKBACK_SECONDS", 86_400.0, minimum=0.0
            ),
            rephraser=RephraserSettings(
                url=url,
                model=env.text("AGENTLEDGER_PRODUCT_REPHRASE_MODEL", ""),
                api_key=env.text("AGENTLEDGER_PRODUCT_REPHRASE_KEY", ""),
                timeout_s=env.number(
                    "AGENTLEDGER_PRODUCT_REPHRASE_TIMEOUT_SECONDS", 20.0, minimum=0.1
                ),
            ),
        )
