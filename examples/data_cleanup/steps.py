"""The data-cleanup example's steps: validate, clean, aggregate, report and verify an orders CSV."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from examples.paths import input_path
from services.engine.domain.agents.base import AgentContext, AgentResult, DataIssue

DEFAULT_CSV = Path(__file__).resolve().parent / "data" / "orders.csv"
COLUMNS = ("order_id", "order_date", "customer", "product", "quantity", "amount")
CLEANED = "data_cleanup/orders.clean.csv"  # in the task's working folder, shared by its nodes
REPORT = "data_cleanup/report.md"
CENTS = Decimal("0.01")
Row = dict[str, str]


def read_rows(path: Path) -> list[tuple[int, Row]]:
    """(line number as an editor shows it, row) for every data row; DataIssue when the file is
    missing or lacks a column, since the user must then point at another file."""
    if not path.is_file():
        raise DataIssue(
            f"{path} does not exist; resume with csv_path=<a CSV file>",
            signals={"csv_path": str(path)},
        )
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise DataIssue(
                f"{path.name} lacks the columns {missing}; it needs {list(COLUMNS)}",
                signals={"csv_path": str(path), "missing_columns": missing},
            )
        return [(reader.line_num, {c: row.get(c) or "" for c in COLUMNS}) for row in reader]


def check_row(row: Row) -> list[dict[str, str]]:
    """What is wrong with one row: one {column, value, problem} per bad cell."""
    problems = []

    def bad(column: str, problem: str) -> None:
        problems.append({"column": column, "value": row[column], "problem": problem})

    if not row["order_id"].strip():
        bad("order_id", "is empty")
    try:
        date.fromisoformat(row["order_date"].strip())
    except ValueError:
        bad("order_date", "is not a valid YYYY-MM-DD date")
    if not row["customer"].strip():
        bad("customer", "is empty")
    if not row["quantity"].strip().isdigit() or int(row["quantity"]) <= 0:
        bad("quantity", "is not a positive whole number")
    try:
        amount = Decimal(row["amount"].strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        bad("amount", "is not a number")
    elif amount < 0:
        bad("amount", "is negative")
    return problems


def _yes(value: object) -> bool:
    # Resumed inputs bypass the plan's type check, so "true" may arrive as text.
    return value is True or str(value).strip().lower() in {"true", "yes", "1"}


def validate(ctx: AgentContext) -> dict[str, Any]:
    """Checks every row; invalid rows are a data issue unless the user chose to drop them."""
    path = input_path(ctx.inputs.get("csv_path"), DEFAULT_CSV)
    assert path is not None
    rows = read_rows(path)
    errors: list[dict[str, Any]] = [{"line": n, **p} for n, row in rows for p in check_row(row)]
    bad_lines = sorted({e["line"] for e in errors})
    drop = _yes(ctx.inputs.get("drop_invalid", False))
    if errors and not drop:
        listed = "; ".join(f"line {e['line']}: {e['column']} {e['value']!r} {e['problem']}"
                           for e in errors)  # fmt: skip
        raise DataIssue(
            f"{len(bad_lines)} of {len(rows)} rows in {path.name} are invalid ({listed}). "
            "Resume with drop_invalid=true to drop them, or csv_path=<a corrected file>",
            signals={"csv_path": str(path), "rows_total": len(rows), "validation_errors": errors},
        )
    ctx.events.emit(
        "data.validated",
        {"csv_path": str(path), "rows_total": len(rows), "invalid_lines": bad_lines},
    )
    return {
        "csv_path": str(path),
        "rows_total": len(rows),
        "invalid_lines": bad_lines,
        "validation_errors": errors,
    }


def _normalized(row: Row) -> Row:
    return {
        "order_id": row["order_id"].strip(),
        "order_date": row["order_date"].strip(),
        "customer": " ".join(row["customer"].split()),
        "product": " ".join(row["product"].split()),
        "quantity": str(int(row["quantity"])),
        "amount": str(Decimal(row["amount"].strip()).quantize(CENTS)),
    }


async def clean(ctx: AgentContext) -> dict[str, Any]:
    """Drops the rows validation rejected and normalizes the rest (spaces, 2-decimal amounts)."""
    checked = ctx.upstream["validate"]
    dropped = set(checked["invalid_lines"])
    kept, fixed = [], 0
    for line, row in read_rows(Path(checked["csv_path"])):
        if line in dropped:
            continue
        tidy = _normalized(row)
        fixed += sum(tidy[c] != row[c] for c in COLUMNS)
        kept.append(tidy)
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    data = out.getvalue().encode()
    target = ctx.work_dir / CLEANED
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    await ctx.artifacts.write("orders.clean.csv", data, "text/csv")
    return {
        "cleaned_path": CLEANED,
        "rows_kept": len(kept),
        "rows_dropped": len(dropped),
        "dropped_lines": sorted(dropped),
        "cells_normalized": fixed,
    }


def totals(rows: list[Row]) -> dict[str, Any]:
    """Order count and amount overall, per customer and per month (amounts as exact strings)."""
    by_customer: dict[str, Decimal] = defaultdict(Decimal)
    by_month: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        amount = Decimal(r["amount"])
        by_customer[r["customer"]] += amount
        by_month[r["order_date"][:7]] += amount
    return {
        "orders": len(rows),
        "total_amount": str(sum(by_customer.values(), Decimal("0.00"))),
        "per_customer": {k: str(v) for k, v in sorted(by_customer.items())},
        "per_month": {k: str(v) for k, v in sorted(by_month.items())},
    }


def _cleaned_rows(ctx: AgentContext) -> list[Row]:
    return [row for _, row in read_rows(ctx.work_dir / CLEANED)]


async def aggregate(ctx: AgentContext) -> AgentResult:
    """Totals per customer and month; the claims let governance compare them with verify's."""
    result = totals(_cleaned_rows(ctx))
    data = json.dumps(result, indent=2).encode()
    await ctx.artifacts.write("aggregates.json", data, "application/json")
    claims = {"orders": result["orders"], "total_amount": result["total_amount"]}
    return AgentResult(output=result, claims=claims)


async def report(ctx: AgentContext) -> dict[str, Any]:
    """A markdown report of what was dropped, normalized and summed."""
    checked, cleaned, agg = (ctx.upstream[k] for k in ("validate", "clean", "aggregate"))
    lines = [
        "# Orders report",
        "",
        f"Source: `{Path(checked['csv_path']).name}`, {checked['rows_total']} rows; "
        f"kept {cleaned['rows_kept']}, dropped {cleaned['rows_dropped']}, "
        f"{cleaned['cells_normalized']} cells normalized.",
        "",
        f"**Total: {agg['total_amount']}** over {agg['orders']} orders.",
        "",
    ]
    if checked["validation_errors"]:
        lines += ["## Dropped rows", "", "| line | column | value | problem |", "|---|---|---|---|"]
        lines += [
            f"| {e['line']} | {e['column']} | `{e['value']}` | {e['problem']} |"
            for e in checked["validation_errors"]
        ]
        lines.append("")
    for title, key in (("customer", "per_customer"), ("month", "per_month")):
        lines += [f"## Total per {title}", "", f"| {title} | amount |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in agg[key].items()]
        lines.append("")
    text = "\n".join(lines)
    (ctx.work_dir / REPORT).write_text(text, encoding="utf-8")
    await ctx.artifacts.write("report.md", text.encode(), "text/markdown")
    return {"report_path": REPORT, "lines": len(lines)}


def verify(ctx: AgentContext) -> AgentResult:
    """Re-checks the output independently: every cleaned row valid, totals recomputed equal to
    the aggregate's, the report quoting the total."""
    rows = _cleaned_rows(ctx)
    problems = [f"row {i}: {p['column']} {p['problem']}"
                for i, row in enumerate(rows, 1) for p in check_row(row)]  # fmt: skip
    recomputed = totals(rows)
    agg = ctx.upstream["aggregate"]
    for key in ("orders", "total_amount", "per_customer", "per_month"):
        if recomputed[key] != agg[key]:
            problems.append(f"{key}: aggregate says {agg[key]!r}, recomputed {recomputed[key]!r}")
    report_text = (ctx.work_dir / REPORT).read_text(encoding="utf-8")
    if f"**Total: {recomputed['total_amount']}**" not in report_text:
        problems.append("the report does not state the recomputed total")
    return AgentResult(
        output={"problems": problems, "rows_checked": len(rows)},
        verified=not problems,
        claims={"orders": recomputed["orders"], "total_amount": recomputed["total_amount"]},
    )
