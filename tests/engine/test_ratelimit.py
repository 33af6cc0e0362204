"""Token buckets on a hand-driven clock: every wait is asserted exactly, nothing really sleeps."""

from __future__ import annotations

import asyncio

import pytest

from agentledger.core.clock import ManualClock
from agentledger.core.errors import InvalidArgument
from services.engine.domain.ratelimit import Rate, TokenBuckets, parse_rates


class FakeSleep:
    """Records each wait and moves the clock by it, as if the time had passed."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def _buckets(rates: dict[str, Rate]) -> tuple[TokenBuckets, ManualClock, FakeSleep]:
    clock = ManualClock()
    sleep = FakeSleep(clock)
    return TokenBuckets(rates, clock.now_ns, sleep), clock, sleep


async def test_burst_passes_then_calls_are_paced() -> None:
    buckets, _, sleep = _buckets({"tool:http": Rate(per_second=2, burst=2)})
    for _ in range(5):
        await buckets.acquire("tool:http")
    assert sleep.waits == [0.5, 0.5, 0.5]


async def test_tokens_refill_while_idle_up_to_the_burst() -> None:
    buckets, clock, sleep = _buckets({"tool:http": Rate(per_second=1, burst=3)})
    for _ in range(3):
        await buckets.acquire("tool:http")
    clock.advance(10)  # refills to the burst of 3, not 10
    for _ in range(4):
        await buckets.acquire("tool:http")
    assert sleep.waits == [1.0]


async def test_cost_counts_several_tokens() -> None:
    buckets, _, sleep = _buckets({"llm:a": Rate(per_second=10, burst=10)})
    await buckets.acquire("llm:a", cost=10)
    await buckets.acquire("llm:a", cost=5)
    assert sleep.waits == [0.5]


async def test_concurrent_waiters_are_served_in_arrival_order() -> None:
    clock = ManualClock()
    waits: list[float] = []
    woken: list[int] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    buckets = TokenBuckets({"llm:*": Rate(per_second=4, burst=1)}, clock.now_ns, record)

    async def call(n: int) -> None:
        await buckets.acquire("llm:openai")
        woken.append(n)

    await asyncio.gather(*(call(n) for n in range(4)))
    # Each waiter reserved its turn on arrival: the k-th waits k quarter-seconds.
    assert waits == [0.25, 0.5, 0.75]
    assert woken == [0, 1, 2, 3]


async def test_family_rates_apply_per_key_and_unknown_keys_pass() -> None:
    buckets, _, sleep = _buckets(
        {"llm:*": Rate(per_second=1, burst=1), "llm:local": Rate(per_second=100, burst=100)}
    )
    for key in ("llm:openai", "llm:anthropic", "llm:local", "llm:local", "tool:command"):
        await buckets.acquire(key)
    assert sleep.waits == []  # each provider has its own bucket; tool:command is not limited
    await buckets.acquire("llm:openai")
    assert sleep.waits == [1.0]
    assert buckets.rate_for("llm:local") == Rate(100, 100)
    assert buckets.rate_for("tool:http") is None


async def test_a_cancelled_waiter_gives_its_reservation_back() -> None:
    clock = ManualClock()
    gate = asyncio.Event()
    waits: list[float] = []

    async def blocked(seconds: float) -> None:
        waits.append(seconds)
        await gate.wait()

    buckets = TokenBuckets({"tool:http": Rate(per_second=1, burst=1)}, clock.now_ns, blocked)
    await buckets.acquire("tool:http")
    waiter = asyncio.create_task(buckets.acquire("tool:http"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    clock.advance(1)
    gate.set()  # so that a wrong implementation fails on the waits instead of hanging
    await buckets.acquire("tool:http")  # one token refilled; the cancelled call used none
    assert waits == [1.0]


def test_rates_are_validated_and_parsed() -> None:
    assert parse_rates("llm:*=2/5, tool:http=10,tool:command=0.5", "RATES") == {
        "llm:*": Rate(2, 5),
        "tool:http": Rate(10, 10),
        "tool:command": Rate(0.5, 1),
    }
    assert parse_rates("", "RATES") == {}
    for bad in ("llm:*=fast", "llm:*=0", "=3", "llm:*=1/-1"):
        with pytest.raises(InvalidArgument, match="RATES"):
            parse_rates(bad, "RATES")
    with pytest.raises(InvalidArgument, match="per_second > 0"):
        Rate(0, 1)
