"""Optimizer configuration, read once from the environment by the process entry point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agentledger.core.errors import InvalidArgument
from agentledger.core.settings import CommonSettings, Env
from services.optimizer.domain.forecaster import ForecastConfig
from services.optimizer.domain.graph import PHASES
from services.optimizer.domain.pareto import ParetoConfig
from services.optimizer.domain.recovery import RecoveryConfig
from services.optimizer.domain.salience import DEFAULT_WEIGHTS, SalienceConfig, check_weights
from services.optimizer.domain.scheduler import DEFAULT_PHASE_WEIGHTS, SchedulerConfig
from services.optimizer.domain.service import OptimizerConfig

DEFAULT_ADDR = "127.0.0.1:50053"


@dataclass(frozen=True)
class OptimizerSettings:
    common: CommonSettings
    listen: str
    trace_store_target: str  # where the forecaster reads history
    trace_store_timeout_s: float
    workers: int  # threads running the modules
    config: OptimizerConfig

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OptimizerSettings:
        env = Env(environ)
        phase_weights = _weights(
            env, "AGENTLEDGER_OPTIMIZER_PHASE_WEIGHTS", DEFAULT_PHASE_WEIGHTS, PHASES
        )
        if not any(phase_weights.values()):
            raise InvalidArgument("AGENTLEDGER_OPTIMIZER_PHASE_WEIGHTS: give a phase a weight")
        salience_weights = _weights(
            env, "AGENTLEDGER_OPTIMIZER_SALIENCE_WEIGHTS", DEFAULT_WEIGHTS, tuple(DEFAULT_WEIGHTS)
        )
        check_weights(salience_weights)
        epsilon = env.number("AGENTLEDGER_OPTIMIZER_PARETO_EPSILON", 0.01, minimum=1e-6)
        if epsilon >= 1:
            raise InvalidArgument(f"AGENTLEDGER_OPTIMIZER_PARETO_EPSILON={epsilon}: use < 1")
        min_history = env.integer("AGENTLEDGER_OPTIMIZER_FORECAST_MIN_HISTORY", 10, minimum=2)
        config = OptimizerConfig(
            scheduler=SchedulerConfig(
                phase_weights,
                top_k=env.integer("AGENTLEDGER_OPTIMIZER_SCHEDULE_TOP_K", 5, minimum=1),
            ),
            recovery=RecoveryConfig(
                max_upstream_reruns=env.integer(
                    "AGENTLEDGER_OPTIMIZER_MAX_UPSTREAM_RERUNS", 1, minimum=0
                )
            ),
            pareto=ParetoConfig(
                max_states=env.integer("AGENTLEDGER_OPTIMIZER_PARETO_MAX_STATES", 256, minimum=1),
                epsilon=epsilon,
                record_limit=env.integer(
                    "AGENTLEDGER_OPTIMIZER_PARETO_RECORD_LIMIT", 50, minimum=0
                ),
            ),
            salience=SalienceConfig(
                salience_weights,
                top_k=env.integer("AGENTLEDGER_OPTIMIZER_SALIENCE_TOP_K", 10, minimum=1),
            ),
            forecast=ForecastConfig(
                min_history=min_history,
                max_history=env.integer(
                    "AGENTLEDGER_OPTIMIZER_FORECAST_MAX_HISTORY", 200, minimum=min_history
                ),
            ),
            history_limit=env.integer("AGENTLEDGER_OPTIMIZER_HISTORY_LIMIT", 1000, minimum=1),
        )
        return cls(
            common=CommonSettings.from_env(environ),
            listen=env.text("AGENTLEDGER_OPTIMIZER_LISTEN", DEFAULT_ADDR),
            trace_store_target=env.text("AGENTLEDGER_TRACE_STORE_ADDR", "127.0.0.1:50051"),
            trace_store_timeout_s=env.number(
                "AGENTLEDGER_OPTIMIZER_TRACE_STORE_TIMEOUT_SECONDS", 10.0, minimum=0.01
            ),
            workers=env.integer("AGENTLEDGER_OPTIMIZER_WORKERS", 2, minimum=1),
            config=config,
        )


def _weights(
    env: Env, name: str, default: Mapping[str, float], names: tuple[str, ...]
) -> dict[str, float]:
    """`build=0.5,verify=0.3`: the named weights replace the defaults; the others become 0."""
    raw = env.text(name, "")
    if not raw:
        return dict(default)
    out: dict[str, float] = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise InvalidArgument(f"{name}: {item!r} is not NAME=WEIGHT with NAME in {names}")
        try:
            out[key] = float(value)
        except ValueError:
            raise InvalidArgument(f"{name}: {value!r} is not a number") from None
        if not 0 <= out[key] < float("inf"):
            raise InvalidArgument(f"{name}: weight {key}={value} must be a number >= 0")
    return {k: out.get(k, 0.0) for k in names}
