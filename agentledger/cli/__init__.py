"""The `agentledger` command: run the mesh locally and talk to its services."""

from __future__ import annotations

import argparse
import sys

from agentledger.cli import audit, product, tasks, tokens, trace, up
from agentledger.core.errors import AgentLedgerError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentledger", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up.register(commands)
    tasks.register(commands)
    product.register(commands)
    trace.register(commands)
    tokens.register(commands)
    audit.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except AgentLedgerError as exc:
        print(f"agentledger: {exc.code.value.lower().replace('_', ' ')}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
