"""Schemathesis against the gateway's own OpenAPI document, over HTTP, with real tokens and real
ids: every operation, as each role (owner, operator, viewer, admin, another tenant's owner),
answers no 5xx, only documented statuses, with the documented content type, and bodies that
match the declared schemas.

The mesh (trace_store, engine, gateway, all with authentication on) runs on an event loop in a
thread of its own, since Schemathesis and Hypothesis drive the live server synchronously. Each
operation runs twice per role: once with every parameter generated, and, when it takes ids,
once more with real ones (the rest generated): a finished task of alice's (shared with olga and
victor, with a blob in it), running tasks of hers (one per role that may control them, for
pause, resume, retry, cancel), a finished task of mallory's in the other tenant, the blob, real
plans, a spare token per role that the test may revoke, and two templates of alice's (made from
the finished task): one to read and run, one to delete.

SQLite only: this checks the HTTP contract, which does not depend on the database, and the
PostgreSQL runs of the gateway's other tests cover the storage side.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
import zlib
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, seed, settings
from hypothesis import strategies as st
from schemathesis import checks

from agentledger.core.clock import SystemClock
from agentledger.security.rbac import Policy
from agentledger.security.tokens import TokenStore
from tests.conftest import Database
from tests.gateway.harness import CAST, Mesh, service_store_client, start_mesh
from tests.gateway.test_gateway_flow import follow, submit

T = TypeVar("T")
Case = schemathesis.Case[Any]  # of any API operation

pytestmark = pytest.mark.mesh

ROLES = ("alice", "olga", "victor", "adam", "mallory")  # owner, operator, viewer, admin, other
EXAMPLES = 6  # per operation, role and pass (generated ids; real ids where it takes any)
TIMEOUT = 15  # seconds, per request; an event stream is read for at most this long in total

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
# And until an operation's first 2xx: the token is passed explicitly, so this resends that
# request without a token and with a made-up one, and expects a 401 both times. Once per
# operation, as schemathesis' own runner does: enforcement does not depend on the example.
AUTH_CHECK = checks.ignored_auth
# Not run, each for a reason:
# - positive_data_acceptance: data valid by the schema is still refused for what a schema
#   cannot say, and that is the behaviour under test: a plan's YAML that does not parse or a
#   plan id that is not in the catalog answer 400/404, a viewer's change 403, a change to a
#   finished task 409.
# - negative_data_rejection: there is no negative data here; the examples are positive
#   (``as_strategy()`` defaults to it), so that the role, not a malformed request, decides.
# - missing_required_header, unsupported_method: they judge the coverage phase's cases (a
#   header left out, an undeclared method), which ``as_strategy`` does not generate.
# - use_after_free, ensure_resource_availability, object_level_authorization: they follow the
#   links of a stateful run (a case and the one that created its resource); single calls have
#   none. Cross-tenant and cross-role access is what the five roles on the same ids exercise,
#   and tests/gateway/test_authz_matrix.py asserts the exact answers.
# - allow_header_conformance: only judges OPTIONS answers, and none is sent.
# - max_response_time: no limit is set; the request timeout above bounds every call.


class Loop:
    """An asyncio event loop running in a thread of its own until ``stop``."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mesh-loop", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the mesh's event loop did not stop"


CONTROLLERS = ("alice", "olga", "adam")  # who may cancel, pause, resume alice's tasks


@dataclass
class Seed:
    done: str  # alice's, finished, shared with olga and victor; holds `blob`
    live: dict[str, str]  # controller -> a running task of alice's (shared likewise) to control
    theirs: str  # mallory's, finished, in the other tenant
    blob: str
    spare_tokens: dict[str, str]  # name -> the id of a spare token of theirs, fair to revoke
    in_use: frozenset[str]  # ids of the tokens the test calls with: never revoked
    templates: tuple[str, str]  # alice's, of `done`: one to read and run, one to delete


async def seed_data(mesh: Mesh) -> Seed:
    done = await submit(mesh, "alice", "chain3")
    await follow(mesh, "alice", done)
    theirs = await submit(mesh, "mallory", "chain3")
    await follow(mesh, "mallory", theirs)
    live = {
        who: await submit(mesh, "alice", "blocker", budget={"seconds": 600}) for who in CONTROLLERS
    }
    alice = mesh.client("alice")
    for task_id in (done, *live.values()):
        for subject in ("olga", "victor"):
            r = await alice.put(f"/api/tasks/{task_id}/shares/{subject}")
            assert r.status_code == 200, r.text
    store = service_store_client(mesh)
    try:
        blob = await store.put_blob(done, b"a report\n", "text/plain")
    finally:
        await store.close()
    tokens = TokenStore(mesh.gateway.db, SystemClock())
    spare = {}
    for name in ROLES:
        role, tenant = CAST[name]
        info, _ = await asyncio.to_thread(
            functools.partial(
                tokens.create,
                name=f"{name}-spare",
                subject=name,
                role=role,
                tenant=tenant,
                created_by="test",
                policy=Policy.load(),
            )
        )
        spare[name] = info.token_id
    in_use = frozenset(token.split("_")[1] for token in mesh.tokens.values())  # alt_<id>_<secret>
    made = [await alice.post(f"/api/templates/from_task/{done}") for _ in range(2)]
    assert all(r.status_code == 201 for r in made), [r.text for r in made]
    kept, spare_template = (r.json()["template_id"] for r in made)
    return Seed(done, live, theirs, blob.blob_id, spare, in_use, (kept, spare_template))


@dataclass
class Api:
    url: str
    tokens: dict[str, str]
    seed: Seed
    schema: Any  # schemathesis' OpenApiSchema
    session: requests.Session
    auth_enforced: set[str] = field(default_factory=set)  # operations ignored_auth passed on


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp_path: Path = tmp_path_factory.mktemp("schemathesis")
    database = Database("sqlite", f"sqlite:///{tmp_path / 'trace_store.db'}", "")
    loop = Loop()
    loop.start()
    mesh: Mesh | None = None
    session = requests.Session()
    try:
        mesh = loop.run(start_mesh(database, tmp_path))
        seeded = loop.run(seed_data(mesh))
        schema = schemathesis.openapi.from_url(
            f"{mesh.url}/openapi.json", config=schemathesis.Config(), timeout=TIMEOUT
        )
        yield Api(mesh.url, mesh.tokens, seeded, schema, session)
    finally:
        try:
            session.close()
            if mesh is not None:
                loop.run(mesh.close())  # engine workers abandon the tasks still running
        finally:
            loop.stop()


# ---------------------------------------------------------------- real parameters


def real_values(api: Api, who: str, method: str, path: str) -> dict[tuple[str, str], list[str]]:
    """(location, name) -> real values for the parameters of an operation, the likeliest to
    succeed first: Hypothesis' first example takes the first of each."""
    s = api.seed
    live = s.live.get(who, s.live["alice"])
    # A stream follows its task until it ends: only finished tasks, so none is left open.
    tasks = [s.done, s.theirs] if path.endswith("/events/stream") else [s.done, live, s.theirs]
    if path.endswith(("/cancel", "/pause", "/resume", "/retry")):
        tasks = [live, s.done, s.theirs]
    spare = s.spare_tokens
    return {
        ("path", "task_id"): tasks,
        ("path", "blob_id"): [s.blob],
        ("path", "subject"): ["nina"] if method == "DELETE" else ["nina", "olga"],
        ("path", "plan_id"): ["chain3", "noop"],
        ("path", "token_id"): [spare[who], *(spare[n] for n in sorted(spare) if n != who)],
        ("path", "template_id"): [s.templates[1] if method == "DELETE" else s.templates[0]],
        ("query", "a"): [s.done, s.theirs],
        ("query", "b"): [s.done, s.theirs],
        ("query", "task_id"): [s.done, s.theirs],
        ("query", "owner"): ["alice", "mallory"],
    }


def real_strategy(api: Api, operation: Any, who: str) -> st.SearchStrategy[Case] | None:
    """Cases with real ids (and the rest generated); None when the operation takes none."""
    known = real_values(api, who, operation.method.upper(), operation.path)
    slots = [
        (location, p.name, known[(location, p.name)])
        for location in ("path", "query")
        for p in operation.iter_parameters()
        if p.location.value == location and (location, p.name) in known
    ]
    if not slots:
        return None
    real = []
    for values in itertools.product(*(vals for _, _, vals in slots)):
        fixed: dict[str, dict[str, str]] = {"path": {}, "query": {}}
        for (location, name, _), value in zip(slots, values, strict=True):
            fixed[location][name] = value
        real.append(
            operation.as_strategy(
                path_parameters=fixed["path"] or None, query=fixed["query"] or None
            )
        )
    return st.one_of(real)


def guard(api: Api, case: Case) -> None:
    """Rejects the few cases that would break the examples after them."""
    s = api.seed
    path = case.operation.path
    if case.method.upper() == "DELETE":
        # Revoking a token the test calls with would turn every later answer into a 401.
        if path == "/api/tokens/{token_id}" and case.path_parameters["token_id"] in s.in_use:
            reject()
        # Unsharing alice's tasks from olga or victor would change what their examples reach.
        subject = case.path_parameters.get("subject")
        if path.endswith("/shares/{subject}") and subject in CAST and subject != "nina":
            reject()


# ---------------------------------------------------------------- the test


def run_operation(
    api: Api, operation: Any, who: str, cases: st.SearchStrategy[Case], name: str
) -> None:
    headers = {"Authorization": f"Bearer {api.tokens[who]}"}

    # Reproducible, and yet each role, operation and pass draws examples of its own.
    @seed(zlib.crc32(name.encode()))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,  # every example is an HTTP round trip
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(case=cases)
    def example(case: Case) -> None:
        guard(api, case)
        confirmed = operation.label in api.auth_enforced
        response = case.call_and_validate(
            base_url=api.url,
            session=api.session,
            headers=headers,
            checks=CHECKS if confirmed else [*CHECKS, AUTH_CHECK],
            timeout=TIMEOUT,
        )
        if 200 <= response.status_code < 300:
            api.auth_enforced.add(operation.label)

    example()


def operations(api: Api) -> list[Any]:
    """Every operation; cancel last, so that pause and resume find the task still running."""
    ops = [result.ok() for result in api.schema.get_all_operations()]
    return sorted(ops, key=lambda op: op.path.endswith("/cancel"))


@pytest.mark.parametrize("who", ROLES)
def test_every_operation_answers_as_documented(api: Api, who: str) -> None:
    ops = operations(api)
    assert len(ops) >= 20, [op.label for op in ops]
    failures: list[str] = []
    for operation in ops:
        passes = [("generated ids", operation.as_strategy())]
        real = real_strategy(api, operation, who)
        if real is not None:
            passes.append(("real ids", real))
        for kind, cases in passes:
            try:
                run_operation(api, operation, who, cases, f"{who} {operation.label} {kind}")
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is one
                failures.append(f"--- {operation.label} as {who} ({CAST[who][0]}), {kind}:\n{exc}")
    assert not failures, "\n\n".join(failures)
