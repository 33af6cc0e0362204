"""The product tables (templates, metering, quotas, exports) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from agentledger.core.db import driver_transaction
from agentledger.core.errors import AlreadyExists, InvalidArgument, NotFound
from services.product.db import open_product_db
from services.product.domain.records import (
    ExportRecord,
    MeteringRecord,
    QuotaSetting,
    TemplateField,
    TemplateRecord,
)
from services.product.domain.store import ProductStore
from tests.conftest import Database


@pytest.fixture
def engine(database: Database) -> Iterator[Engine]:
    engine = open_product_db(database.url, schema=database.schema or None)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> ProductStore:
    return ProductStore(engine)


def template(template_id: str, *, owner: str = "ann", created_ns: int = 1_000) -> TemplateRecord:
    return TemplateRecord(
        template_id=template_id,
        name=f"weekly report {template_id}",
        owner=owner,
        tenant="acme",
        source_task_id="task-1",
        goal="Summarize [REDACTED:email]'s week",
        plan_id="report",
        plan_version=2,
        plan_yaml="",
        default_mode="auto",
        budget_tokens=None,
        budget_usd=None,
        budget_seconds=None,
        priority=0,
        input_fields=(),
        degrade={},
        created_ns=created_ns,
    )


def metering(task_id: str, **changes: Any) -> MeteringRecord:
    base = MeteringRecord(
        task_id=task_id,
        owner="ann",
        tenant="acme",
        day="2025-03-04",
        state="RUNNING",
        tokens_in=100,
        tokens_out=50,
        usd=0.125,
        tool_ms=300,
        events=12,
        blob_bytes=2048,
        updated_ns=10,
    )
    return replace(base, **changes)


# ---------------------------------------------------------------------- templates


def test_a_template_round_trips_with_every_field(store: ProductStore) -> None:
    full = replace(
        template("tpl-full"),
        plan_yaml="id: report\nversion: 2\n",
        default_mode="review",
        budget_tokens=2**40,
        budget_usd=1.0 / 3.0,
        budget_seconds=90.5,
        priority=-3,
        input_fields=(
            TemplateField("customer"),
            TemplateField("api_key", "secret", required=False, sensitive=True, description="x"),
        ),
        degrade={"draft": "small-model", "nested": {"a": [1, 2]}},
        created_ns=1_700_000_000_123_456_789,
    )
    assert store.add_template(full) == full
    assert store.get_template("tpl-full") == full
    bare = template("tpl-bare")
    store.add_template(bare)
    assert store.get_template("tpl-bare") == bare


def test_a_template_id_is_added_once(store: ProductStore) -> None:
    store.add_template(template("tpl-1"))
    with pytest.raises(AlreadyExists, match="tpl-1"):
        store.add_template(replace(template("tpl-1"), name="other"))
    assert store.get_template("tpl-1").name == "weekly report tpl-1"


def test_templates_page_newest_first_by_cursor(store: ProductStore) -> None:
    # Ties on created_ns, across owners: the cursor must neither skip nor repeat.
    for i in range(11):
        store.add_template(
            template(f"tpl-{i:02d}", owner="ann" if i % 3 else "bob", created_ns=1_000 + i // 2)
        )
    expected = sorted(
        (store.get_template(f"tpl-{i:02d}") for i in range(11)),
        key=lambda t: (t.created_ns, t.template_id),
        reverse=True,
    )
    seen: list[TemplateRecord] = []
    cursor = ""
    pages = 0
    while True:
        page, cursor = store.list_templates(None, limit=3, cursor=cursor)
        seen += page
        pages += 1
        if not cursor:
            break
    assert seen == expected and pages == 4
    ann: list[str] = []
    cursor = ""
    while True:
        page, cursor = store.list_templates("ann", limit=2, cursor=cursor)
        assert all(t.owner == "ann" for t in page)
        ann += [t.template_id for t in page]
        if not cursor:
            break
    assert ann == [t.template_id for t in expected if t.owner == "ann"]
    exact, cursor = store.list_templates("bob", limit=4)
    assert len(exact) == 4 and cursor == ""  # no empty last page
    assert store.list_templates("carol") == ([], "")


def test_bad_list_arguments_say_what_is_right(store: ProductStore) -> None:
    with pytest.raises(InvalidArgument, match=r"1\.\.500"):
        store.list_templates(None, limit=0)
    with pytest.raises(InvalidArgument, match="not a template list cursor"):
        store.list_templates(None, cursor="q1.abc")
    with pytest.raises(InvalidArgument, match="malformed"):
        store.list_templates(None, cursor="tp1.!!!not-base64")
    with pytest.raises(InvalidArgument, match="malformed"):
        store.list_templates(None, cursor="tp1.WyJhIiwxXQ")  # ["a",1]


def test_a_deleted_template_is_gone(store: ProductStore) -> None:
    store.add_template(template("tpl-gone"))
    store.add_template(template("tpl-kept"))
    store.delete_template("tpl-gone")
    with pytest.raises(NotFound, match="tpl-gone"):
        store.get_template("tpl-gone")
    with pytest.raises(NotFound, match="tpl-gone"):
        store.delete_template("tpl-gone")
    assert [t.template_id for t in store.list_templates(None)[0]] == ["tpl-kept"]


def test_overlong_values_are_refused_alike_on_both_databases(store: ProductStore) -> None:
    with pytest.raises(InvalidArgument, match="owner"):
        store.add_template(template("tpl-x", owner="o" * 257))
    with pytest.raises(InvalidArgument, match="task_id"):
        store.upsert_metering(metering("t" * 65))


# ---------------------------------------------------------------------- metering


def test_a_metering_record_round_trips(store: ProductStore) -> None:
    assert store.get_metering("task-a") is None
    record = metering(
        "task-a",
        usd=0.1 + 0.2,
        tokens_in=2**40,
        exports=1,
        compares=2,
        state="SUCCEEDED",
        cost_seqs=(3, 9, 2**40),
        ended=True,
        updated_ns=1_700_000_000_000_000_001,
    )
    assert store.upsert_metering(record) == record
    assert store.get_metering("task-a") == record


def test_a_refresh_replaces_figures_and_keeps_counters(store: ProductStore) -> None:
    store.upsert_metering(metering("task-a"))
    store.count_usage("task-a", exports=2)
    store.count_usage("task-a", compares=1)
    refreshed = metering(
        "task-a",
        owner="mallory",
        tenant="elsewhere",
        day="2025-03-05",
        state="SUCCEEDED",
        tokens_in=1_000,
        tokens_out=500,
        usd=2.5,
        tool_ms=9_000,
        events=80,
        blob_bytes=1 << 20,
        updated_ns=20,
        cost_seqs=(7, 8),
    )
    stored = store.upsert_metering(refreshed)
    # Not ended yet: cost_seqs waits for the final summary; counters and placement stay.
    assert stored == replace(
        refreshed, owner="ann", tenant="acme", day="2025-03-04", exports=2, compares=1, cost_seqs=()
    )
    assert store.get_metering("task-a") == stored
    final = replace(refreshed, updated_ns=30, cost_seqs=(7, 8), ended=True, exports=0)
    stored = store.upsert_metering(final)
    assert (stored.cost_seqs, stored.ended, stored.exports, stored.compares) == ((7, 8), True, 2, 1)


def test_a_late_refresh_does_not_roll_figures_back(store: ProductStore) -> None:
    store.upsert_metering(metering("task-a", updated_ns=50, tokens_in=500))
    stale = store.upsert_metering(metering("task-a", updated_ns=40, tokens_in=400))
    assert stale.tokens_in == 500 and stale.updated_ns == 50
    ended = store.upsert_metering(
        metering("task-a", updated_ns=60, state="FAILED", ended=True, cost_seqs=(4,))
    )
    # A replica that read the summary while the task still ran, but wrote it later.
    reopened = store.upsert_metering(metering("task-a", updated_ns=70, state="RUNNING"))
    assert reopened == ended


def test_count_usage_needs_a_record_and_only_grows(store: ProductStore) -> None:
    with pytest.raises(NotFound, match="task-none"):
        store.count_usage("task-none", exports=1)
    store.upsert_metering(metering("task-a"))
    with pytest.raises(InvalidArgument, match="only grow"):
        store.count_usage("task-a", exports=-1)
    store.count_usage("task-a")
    record = store.get_metering("task-a")
    assert record is not None and (record.exports, record.compares) == (0, 0)


def test_concurrent_counts_all_land(store: ProductStore) -> None:
    store.upsert_metering(metering("task-a"))
    threads, rounds = 8, 25
    start = threading.Barrier(threads)

    def count(i: int) -> None:
        start.wait()
        for _ in range(rounds):
            store.count_usage("task-a", exports=1, compares=i % 2)
            # A refresh racing the counters must not undo them.
            store.upsert_metering(metering("task-a", updated_ns=10 + i))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(count, range(threads)))
    record = store.get_metering("task-a")
    assert record is not None
    assert (record.exports, record.compares) == (threads * rounds, threads // 2 * rounds)


def test_replicas_racing_to_create_a_record_both_succeed(store: ProductStore) -> None:
    threads = 6
    start = threading.Barrier(threads)

    def create(i: int) -> MeteringRecord:
        start.wait()
        return store.upsert_metering(metering("task-new", updated_ns=100, events=i))

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(create, range(threads)))
    assert {r.task_id for r in results} == {"task-new"}
    assert store.get_metering("task-new") in results


def test_metering_for_takes_whole_days_in_order(store: ProductStore) -> None:
    for task_id, owner, day in [
        ("t-b", "ann", "2025-03-02"),
        ("t-a", "ann", "2025-03-02"),
        ("t-c", "ann", "2025-03-01"),
        ("t-d", "ann", "2025-03-03"),
        ("t-e", "ann", "2025-02-28"),
        ("t-f", "bob", "2025-03-02"),
    ]:
        store.upsert_metering(metering(task_id, owner=owner, day=day))
    got = store.metering_for("ann", "2025-03-01", "2025-03-02")
    assert [(m.day, m.task_id) for m in got] == [
        ("2025-03-01", "t-c"),
        ("2025-03-02", "t-a"),
        ("2025-03-02", "t-b"),
    ]
    assert store.metering_for("ann", "2025-03-03", "2025-03-03")[0].task_id == "t-d"
    with pytest.raises(InvalidArgument, match="YYYY-MM-DD"):
        store.metering_for("ann", "2025-3-1", "2025-03-02")
    with pytest.raises(InvalidArgument, match="YYYY-MM-DD"):
        store.metering_for("ann", "2025-02-30", "2025-03-02")
    with pytest.raises(InvalidArgument, match="after"):
        store.metering_for("ann", "2025-03-02", "2025-03-01")


def test_usage_on_sums_by_owner_or_tenant(store: ProductStore) -> None:
    day = "2025-03-04"
    store.upsert_metering(metering("t1", owner="ann", tenant="acme", tokens_in=10, tokens_out=5))
    store.upsert_metering(metering("t2", owner="ann", tenant="acme", tokens_in=1, usd=0.25))
    store.upsert_metering(metering("t3", owner="bob", tenant="acme", tokens_out=1000, usd=1.5))
    store.upsert_metering(metering("t4", owner="ann", tenant="beta", tokens_in=7, usd=0.5))
    store.upsert_metering(metering("t5", owner="ann", tenant="acme", day="2025-03-05"))
    assert store.usage_on("owner", "ann", day) == (10 + 5 + 1 + 50 + 7 + 50, 0.125 + 0.25 + 0.5)
    assert store.usage_on("tenant", "acme", day) == (15 + 51 + 1100, 0.125 + 0.25 + 1.5)
    assert store.usage_on("owner", "carol", day) == (0, 0.0)
    with pytest.raises(InvalidArgument, match="scope 'team'"):
        store.usage_on("team", "acme", day)
    assert store.tenant_of("ann") == "acme"  # her latest day's task (t5)
    assert (store.tenant_of("bob"), store.tenant_of("carol")) == ("acme", "")


# ---------------------------------------------------------------------- quotas


def test_quotas_are_set_replaced_and_cleared(store: ProductStore) -> None:
    assert store.quotas_for("owner", "ann") == {}
    tokens = QuotaSetting("owner", "ann", "daily_tokens", 50_000, set_by="root", set_ns=5)
    assert store.set_quota(tokens) == tokens
    store.set_quota(QuotaSetting("owner", "ann", "daily_usd", 2.75))
    store.set_quota(QuotaSetting("tenant", "ann", "daily_usd", 9))  # another scope
    assert store.quotas_for("owner", "ann") == {
        "daily_tokens": tokens,
        "daily_usd": QuotaSetting("owner", "ann", "daily_usd", 2.75),
    }
    raised = QuotaSetting("owner", "ann", "daily_tokens", 0, set_by="admin", set_ns=9)
    store.set_quota(raised)
    assert store.quotas_for("owner", "ann")["daily_tokens"] == raised
    assert store.clear_quota("owner", "ann", "daily_tokens") is True
    assert store.clear_quota("owner", "ann", "daily_tokens") is False
    assert list(store.quotas_for("owner", "ann")) == ["daily_usd"]
    assert store.quotas_for("tenant", "ann")["daily_usd"].limit == 9


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (QuotaSetting("team", "ann", "daily_usd", 1), "scope 'team' is unknown"),
        (QuotaSetting("owner", "ann", "hourly_usd", 1), "quota 'hourly_usd' is unknown"),
        (QuotaSetting("owner", "ann", "daily_usd", -1), ">= 0"),
        (QuotaSetting("owner", "ann", "daily_usd", float("inf")), "finite"),
        (QuotaSetting("owner", "", "daily_usd", 1), "needs the owner"),
    ],
)
def test_bad_quotas_are_refused(store: ProductStore, setting: QuotaSetting, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        store.set_quota(setting)


def test_clear_quota_checks_its_names(store: ProductStore) -> None:
    with pytest.raises(InvalidArgument, match="quota 'nope'"):
        store.clear_quota("owner", "ann", "nope")
    with pytest.raises(InvalidArgument, match="scope 'nope'"):
        store.quotas_for("nope", "ann")


# ---------------------------------------------------------------------- exports


def test_exports_are_kept_and_counted_per_day(store: ProductStore, engine: Engine) -> None:
    first = ExportRecord("t1", "ann", "acme", "2025-03-04", 111, 4096, {"format": "zip", "n": 1})
    store.record_export(first)
    store.record_export(replace(first, at_ns=112, extra={}))  # the same task again
    store.record_export(ExportRecord("t2", "bob", "acme", "2025-03-04", 113, 10))
    store.record_export(ExportRecord("t3", "ann", "beta", "2025-03-04", 114, 0))
    store.record_export(ExportRecord("t1", "ann", "acme", "2025-03-05", 115, 99))
    assert store.exports_on("owner", "ann", "2025-03-04") == 3
    assert store.exports_on("owner", "ann", "2025-03-05") == 1
    assert store.exports_on("tenant", "acme", "2025-03-04") == 3
    assert store.exports_on("tenant", "beta", "2025-03-04") == 1
    assert store.exports_on("owner", "carol", "2025-03-04") == 0
    with driver_transaction(engine, write=False) as db:
        row = db.execute(
            "SELECT task_id, owner, tenant, day, at_ns, size, extra_json FROM pd_exports "
            "WHERE at_ns = 111"
        ).fetchone()
    task_id, owner, tenant, day, at_ns, size, extra = row
    stored = ExportRecord(task_id, owner, tenant, day, at_ns, size, orjson.loads(extra))
    assert stored == first
    with pytest.raises(InvalidArgument, match="size"):
        store.record_export(replace(first, size=-1))
    with pytest.raises(InvalidArgument, match="scope"):
        store.exports_on("team", "acme", "2025-03-04")


def test_migrating_again_changes_nothing(database: Database, store: ProductStore) -> None:
    store.add_template(template("tpl-1"))
    again = open_product_db(database.url, schema=database.schema or None)
    try:
        assert ProductStore(again).get_template("tpl-1") == template("tpl-1")
    finally:
        again.dispose()
