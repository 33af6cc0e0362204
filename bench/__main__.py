"""Runs the benchmarks: `python -m bench [B1 B2 ...]`; all of them without arguments."""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "B1": "bench.b1_append",
    "B2": "bench.b2_read",
    "B3": "bench.b3_stream",
    "B4": "bench.b4_engine_dag",
    "B5": "bench.b5_engine_remote",
    "B6": "bench.b6_queue",
    "B8": "bench.b8_optimizer",
    "B9": "bench.b9_gateway",
    "B10": "bench.b10_goal_narrative",
    "B11": "bench.b11_compare",
    "B12": "bench.b12_export",
    "B13": "bench.b13_product_service",
}


def main(argv: list[str]) -> int:
    names = [a.upper() for a in argv] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(
            f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}",
            file=sys.stderr,
        )
        return 2
    for name in names:
        importlib.import_module(BENCHES[name]).main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
