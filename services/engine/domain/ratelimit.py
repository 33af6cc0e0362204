"""Token buckets that pace LLM and tool calls per provider or tool (the agents' `RateLimits`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from agentledger.core.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float  # sustained calls (or cost units) per second
    burst: float  # how many may go at once after a quiet period

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and self.burst > 0):
            raise InvalidArgument(
                f"a rate needs per_second > 0 and burst > 0, got {self.per_second}/{self.burst}"
            )


class _Bucket:
    def __init__(self, rate: Rate, now_ns: int) -> None:
        self.rate = rate
        self.tokens = rate.burst
        self.updated_ns = now_ns

    def reserve(self, cost: float, now_ns: int) -> float:
        """Takes `cost` now, going into debt if needed; returns the seconds until the debt is
        paid. Reserving before waiting is what makes waiters go in arrival order (FIFO)."""
        elapsed = (now_ns - self.updated_ns) / 1e9
        self.tokens = min(self.rate.burst, self.tokens + elapsed * self.rate.per_second)
        self.updated_ns = now_ns
        self.tokens -= cost
        return max(0.0, -self.tokens / self.rate.per_second)


class TokenBuckets:
    """`RateLimits` over one bucket per key. A key's rate is found by its exact name, then by
    its family (`"llm:openai"` falls back to `"llm:*"`); keys with neither are not limited."""

    def __init__(
        self,
        rates: Mapping[str, Rate],
        clock_ns: Callable[[], int],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rates = dict(rates)
        self._clock_ns = clock_ns
        self._sleep = sleep
        self._buckets: dict[str, _Bucket] = {}

    def rate_for(self, key: str) -> Rate | None:
        family = key.partition(":")[0] + ":*"
        return self._rates.get(key) or self._rates.get(family)

    async def acquire(self, key: str, cost: float = 1.0) -> None:
        rate = self.rate_for(key)
        if rate is None:
            return
        now = self._clock_ns()
        bucket = self._buckets.get(key)
        if bucket is None:
            # A family rate applies to each member separately: every provider gets its own pace.
            bucket = self._buckets[key] = _Bucket(rate, now)
        wait = bucket.reserve(cost, now)
        if wait <= 0:
            return
        try:
            await self._sleep(wait)
        except asyncio.CancelledError:
            # Give the reservation back so that later callers are not slowed by one that left.
            bucket.tokens = min(rate.burst, bucket.tokens + cost)
            raise


def parse_rates(text: str, setting: str) -> dict[str, Rate]:
    """`key=per_second[/burst]`, comma-separated, e.g. `llm:*=2/5,tool:http=10`; burst
    defaults to per_second (at least 1). Errors name `setting`."""
    rates: dict[str, Rate] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        key, _, value = (p.strip() for p in entry.partition("="))
        per_second, _, burst = value.partition("/")
        try:
            per = float(per_second)
            rates[key] = Rate(per, float(burst) if burst else max(per, 1.0))
        except (ValueError, InvalidArgument):
            raise InvalidArgument(
                f"{setting}: {entry!r} is not key=per_second[/burst] with positive numbers, "
                "e.g. llm:*=2/5"
            ) from None
        if not key:
            raise InvalidArgument(f"{setting}: {entry!r} has no key before '='")
    return rates
