"""`agentledger up`: every service as its own process on 127.0.0.1, until Ctrl-C or SIGTERM.

Each service is started with `python -m services.<name>`, waited for until its health check
answers SERVING, and its log lines are shown prefixed with its name. On Ctrl-C or SIGTERM every
service gets SIGTERM (it reports NOT_SERVING and finishes calls in flight), then is killed if it
has not stopped within the grace period.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentledger.cli.identity import KEY_FILE, cli_user
from agentledger.core.clock import SystemClock
from agentledger.core.errors import Unavailable
from agentledger.security.audit import AuditEntry, AuditLog
from agentledger.security.db import open_security_db
from agentledger.security.rbac import Policy
from agentledger.security.settings import SecuritySettings
from agentledger.security.tokens import TokenStore


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    listen_env: str
    default_listen: str
    http: bool = False  # answers HTTP /healthz instead of gRPC health


# Later services add themselves here, in start order.
SERVICES = (
    ServiceSpec(
        "trace_store", "services.trace_store", "AGENTLEDGER_TRACE_STORE_LISTEN", "127.0.0.1:50051"
    ),
    ServiceSpec(
        "optimizer", "services.optimizer", "AGENTLEDGER_OPTIMIZER_LISTEN", "127.0.0.1:50053"
    ),
    # Before the engine, which asks it about quotas when a task is submitted.
    ServiceSpec("product", "services.product", "AGENTLEDGER_PRODUCT_LISTEN", "127.0.0.1:50054"),
    ServiceSpec("engine", "services.engine", "AGENTLEDGER_ENGINE_LISTEN", "127.0.0.1:50052"),
    ServiceSpec("gateway", "gateway", "AGENTLEDGER_GATEWAY_LISTEN", "127.0.0.1:8080", http=True),
)


def register(commands: Any) -> None:
    p = commands.add_parser("up", help="start every service locally and follow their logs")
    p.add_argument(
        "--data-dir",
        default=os.environ.get("AGENTLEDGER_DATA_DIR", "data"),
        help="where SQLite files and blobs live (default: ./data)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for each service to answer SERVING",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=15.0,
        help="seconds each service gets to stop before it is killed",
    )
    p.set_defaults(run=run)


@dataclass
class Running:
    spec: ServiceSpec
    address: str
    proc: subprocess.Popen[str]


def _listen(spec: ServiceSpec) -> str:
    return os.environ.get(spec.listen_env, "").strip() or spec.default_listen


def _pump(name: str, stream: IO[str], out: IO[str], lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            out.write(f"{name:<12}| {line}")
            out.flush()


def wait_http(address: str, proc: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"the process exited with code {proc.returncode} before it served")
        try:
            if httpx.get(f"http://{address}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # polling a process we started; not a test
    raise Unavailable(f"no answer from http://{address}/healthz within {timeout_s:.0f} s")


def wait_serving(address: str, proc: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise Unavailable(
                    f"the process exited with code {proc.returncode} before it served"
                )
            try:
                if (
                    stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)  # polling a process we started; not a test
    raise Unavailable(f"no SERVING answer from {address} within {timeout_s:.0f} s")


def stop_all(running: list[Running], grace: float) -> None:
    for r in running:
        if r.proc.poll() is None:
            r.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for r in running:
        try:
            r.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            r.proc.kill()
            r.proc.wait()


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AGENTLEDGER_DATA_DIR": str(data_dir)}
    env.setdefault("AGENTLEDGER_LOG_FORMAT", "text")
    # Each service finds the others at AGENTLEDGER_<NAME>_ADDR, as in the Kubernetes manifests.
    for spec in SERVICES:
        env.setdefault(f"AGENTLEDGER_{spec.name.upper()}_ADDR", _listen(spec))
    if not (env.get("AGENTLEDGER_MESH_KEY") or env.get("AGENTLEDGER_MESH_KEY_FILE")):
        env["AGENTLEDGER_MESH_KEY_FILE"] = str(_mesh_key_file(data_dir))
    owner_token = _owner_token(env, data_dir)
    # The example plans ship in the repository, beside this package.
    root = Path(__file__).resolve().parents[2]
    if (root / "examples").is_dir():
        env.setdefault("AGENTLEDGER_ENGINE_PLAN_DIRS", str(root / "examples"))
        # Their python steps import as `examples.*`, whatever folder `up` was started in.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    lock = threading.Lock()
    running: list[Running] = []
    try:
        for spec in SERVICES:
            address = _listen(spec)
            proc = subprocess.Popen(
                [sys.executable, "-m", spec.module],
                env={**env, spec.listen_env: address},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # Ctrl-C reaches us; we stop the services in order
            )
            assert proc.stdout is not None
            threading.Thread(
                target=_pump, args=(spec.name, proc.stdout, sys.stdout, lock), daemon=True
            ).start()
            running.append(Running(spec, address, proc))
            try:
                (wait_http if spec.http else wait_serving)(address, proc, args.timeout)
            except Unavailable as exc:
                raise Unavailable(f"{spec.name} did not start: {exc}") from None
            if stop.is_set():
                return 130
        with lock:
            _banner(running, data_dir, owner_token)
        while not stop.is_set():
            for r in running:
                if r.proc.poll() is not None:
                    print(
                        f"agentledger: {r.spec.name} exited with code {r.proc.returncode}; stopping",
                        file=sys.stderr,
                    )
                    return 1
            stop.wait(0.5)
        print("\nagentledger: stopping every service...", flush=True)
        return 0
    finally:
        stop_all(running, args.grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _mesh_key_file(data_dir: Path) -> Path:
    """The key every local process signs and checks identities with, made once (mode 0600)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path


def _owner_token(env: dict[str, str], data_dir: Path) -> Path:
    """A local owner token for the person running `up`, created on the first run and kept in
    the data folder (mode 0600) so that it can be found again; only its hash is in the database."""
    path = data_dir / "owner.token"
    if path.exists():
        return path
    settings = SecuritySettings.from_env(env)
    db = open_security_db(settings.db_url, schema=settings.db_schema or None, pool_size=1)
    try:
        user = cli_user(env)
        clock = SystemClock()
        info, token = TokenStore(db, clock).create(
            name=f"{user}-local",
            role="owner",
            subject=user,
            created_by="agentledger up",
            policy=Policy.load(),
        )
        AuditLog(db, clock, recorded_by="agentledger up").append(
            [
                AuditEntry(
                    action="token.create",
                    allowed=True,
                    actor="agentledger up",
                    object_type="token",
                    object_id=info.token_id,
                    details={"role": "owner", "subject": user, "name": info.name},
                )
            ]
        )
    finally:
        db.dispose()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return path


def _banner(running: list[Running], data_dir: Path, owner_token: Path) -> None:
    print("\nAgentLedger is up.", flush=False)
    gateway = ""
    for r in running:
        if r.spec.http:
            gateway = f"http://{r.address}"
            print(f"  {r.spec.name:<12} {gateway}   (API docs: {gateway}/docs)")
        else:
            print(
                f"  {r.spec.name:<12} grpc://{r.address}   (health: grpc.health.v1, reflection on)"
            )
    print(f"  data         {data_dir}")
    print(f"\nYour owner token (kept in {owner_token}):\n  {owner_token.read_text().strip()}")
    print(
        "\nThrough the REST API (export TOKEN=$(cat " + str(owner_token) + ")):\n"
        f'  curl -s -H "Authorization: Bearer $TOKEN" {gateway}/api/plans\n'
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n"
        f'       -d \'{{"plan_id": "build-verify"}}\' {gateway}/api/tasks\n'
        f'  curl -N -H "Authorization: Bearer $TOKEN" {gateway}/api/tasks/TASK_ID/events/stream\n'
        "  agentledger token create --name bob --role viewer    # a token for someone else"
    )
    print(
        "\nTry it from another terminal (.venv/bin/agentledger, or `source .venv/bin/activate`):\n"
        "  agentledger plans                                  # the plans you can run\n"
        "  agentledger submit build-verify --follow           # build and test a program, live\n"
        "  agentledger submit data-cleanup --follow           # finds bad rows and asks you\n"
        "  agentledger resume TASK_ID --input drop_invalid=true --follow\n"
        "  agentledger tasks                                  # what ran, newest first\n"
        "  agentledger task TASK_ID                           # one task and its nodes\n"
        "  agentledger goal TASK_ID                           # done? what is missing, what next\n"
        "  agentledger explain TASK_ID                        # the story, every line with its events\n"
        "  agentledger compare TASK_A TASK_B                  # where two runs diverged\n"
        "  agentledger export TASK_ID                         # everything in one zip\n"
        "  agentledger template create TASK_ID                # then: template run ID -i key=value\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
