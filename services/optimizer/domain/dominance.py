"""Pareto dominance over objective vectors: the non-dominated filter the frontier modules share,
and the frontier of an explicit candidate set (SPEC 2.3)."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from operator import gt, mul
from typing import Any

from agentledger.core.errors import InvalidArgument

PARETO_VERSION = "pareto-1.0.0"
INF = math.inf
BUCKETS = 64


def nondominated(points: Sequence[tuple[float, ...]]) -> list[int]:
    """For each point (all objectives minimised), -1 if no other point dominates it, else the
    index of a non-dominated point that does. Equal points do not dominate each other.

    Points are visited in lexicographic order, so a point's dominators are all visited before it
    and only the front found so far needs checking (dominance is transitive). The front is kept
    in buckets by the value of the second objective, each with the least value of every later
    objective, so most buckets are skipped with a few comparisons: with 100,000 points and a
    front of 20,000 this is ~20x faster than scanning the front."""
    n = len(points)
    out = [-1] * n
    if n < 2:
        return out
    order = sorted(range(n), key=points.__getitem__)
    dims = len(points[0])
    if dims == 1:
        best = order[0]
        for i in order[1:]:
            if points[i] != points[best]:
                out[i] = best
        return out
    # Buckets by value of the second objective (equal values share one), so that every point
    # whose second value is <= p's sits in p's bucket or a lower one.
    column = sorted(p[1] for p in points)
    cuts = column[-(-n // BUCKETS) :: -(-n // BUCKETS)]
    bucket = [bisect_right(cuts, p[1]) for p in points]
    members: list[list[tuple[float, ...]]] = [[] for _ in range(BUCKETS + 1)]
    owners: list[list[int]] = [[] for _ in range(BUCKETS + 1)]
    # The least value of each objective in a bucket; -inf on the first two, which the bucket
    # order already covers, so that one C-level `any(map(gt, ...))` tests the rest.
    least: list[list[float]] = [[-INF, -INF] + [INF] * (dims - 2) for _ in range(BUCKETS + 1)]
    four = dims == 4
    last = -1  # the latest dominator: neighbours in this order often share one
    for i in order:
        p = points[i]
        if last >= 0:
            f = points[last]
            if not any(map(gt, f, p)) and f != p:
                out[i] = last
                continue
        found = -1
        if four:
            p1, p2, p3 = p[1], p[2], p[3]
        for b in range(bucket[i] + 1):
            if any(map(gt, least[b], p)):
                continue
            # f[0] <= p[0] holds by the visiting order. Four objectives (the plan frontier's)
            # get comparisons written out, which short-circuit: ~5x faster than map().
            if four:
                for k, f in enumerate(members[b]):
                    if f[2] <= p2 and f[3] <= p3 and f[1] <= p1 and f != p:
                        found = owners[b][k]
                        break
            else:
                for k, f in enumerate(members[b]):
                    if not any(map(gt, f, p)) and f != p:
                        found = owners[b][k]
                        break
            if found >= 0:
                break
        if found >= 0:
            out[i] = last = found
            continue
        b = bucket[i]
        members[b].append(p)
        owners[b].append(i)
        least[b][2:] = map(min, islice(least[b], 2, None), islice(p, 2, None))
    return out


@dataclass(frozen=True, slots=True)
class Objective:
    name: str
    maximize: bool


@dataclass(frozen=True, slots=True)
class Candidate:
    id: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    id: str
    dominated_by: str


@dataclass(frozen=True, slots=True)
class CandidateFrontier:
    pareto_version: str
    frontier: tuple[Candidate, ...]  # in input order
    pruned: int
    rejected: tuple[Rejected, ...]  # the first `record_limit` pruned ones, in input order
    evidence: dict[str, Any]


def check_objectives(objectives: Sequence[Objective]) -> None:
    names = [o.name for o in objectives]
    if not names:
        raise InvalidArgument("no objectives; name at least one (e.g. cost, minimised)")
    if len(set(names)) != len(names) or not all(names):
        raise InvalidArgument(f"objective names {names} must be non-empty and unique")


def candidate_frontier(
    candidates: Sequence[Candidate], objectives: Sequence[Objective], record_limit: int
) -> CandidateFrontier:
    """The Pareto frontier of explicit candidates, each scored on every objective."""
    check_objectives(objectives)
    if not candidates:
        raise InvalidArgument("the candidate set is empty; send at least one candidate")
    if record_limit < 0:
        raise InvalidArgument(f"record_limit is {record_limit}; it must be >= 0")
    width = len(objectives)
    sign = tuple(-1.0 if o.maximize else 1.0 for o in objectives)
    seen: set[str] = set()
    points: list[tuple[float, ...]] = []
    for c in candidates:
        values = c.values
        if len(values) != width:
            raise InvalidArgument(
                f"candidate {c.id!r} has {len(values)} objective values, but there are"
                f" {width} objectives ({', '.join(o.name for o in objectives)})"
            )
        # A finite sum means finite values (NaN and infinities propagate); the per-value check
        # only runs when the sum is not (or overflowed).
        if not math.isfinite(sum(values)) and not all(map(math.isfinite, values)):
            raise InvalidArgument(f"candidate {c.id!r} has a NaN or infinite value: {values}")
        points.append(tuple(map(mul, sign, values)))
        seen.add(c.id)
    if len(seen) != len(candidates) or "" in seen:
        counts = Counter(c.id for c in candidates)
        bad = next(i for i, n in counts.items() if n > 1 or not i)
        raise InvalidArgument(f"candidate id {bad!r} is empty or repeated; ids are unique")
    dominator = nondominated(points)
    rejected = [k for k, d in enumerate(dominator) if d >= 0]
    return CandidateFrontier(
        pareto_version=PARETO_VERSION,
        frontier=tuple(c for c, d in zip(candidates, dominator, strict=True) if d < 0),
        pruned=len(rejected),
        rejected=tuple(
            Rejected(candidates[k].id, candidates[dominator[k]].id) for k in rejected[:record_limit]
        ),
        evidence={
            "objectives": [
                {"name": o.name, "sense": "max" if o.maximize else "min"} for o in objectives
            ],
            "candidates": len(candidates),
            "dominance": "a dominates b when it is no worse on every objective and better on"
            " one; equal candidates are both kept",
            "record_limit": record_limit,
        },
    )
