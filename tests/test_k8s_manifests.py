"""Static checks of the Kubernetes manifests in deploy/k8s against the code; no cluster needed."""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from agentledger.core.server import run_until_signalled
from agentledger.core.settings import CommonSettings
from services.engine.settings import EngineSettings
from services.optimizer.settings import OptimizerSettings
from services.trace_store.settings import TraceStoreSettings

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
NAMESPACE = "agentledger"
PLACEHOLDER = "CHANGE_ME"
PREFIX = "AGENTLEDGER_"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
# What the kubelet puts in a fieldRef variable; a plausible value for each field used.
FIELD_VALUES = {"metadata.name": "engine-7d4b9c6f8-x2k9q"}


@dataclass(frozen=True)
class Svc:
    """One service of the base: its Deployment, Service, PDB and container share `name`."""

    name: str
    settings: type[Any]  # a settings class with from_env(environ)
    module: str  # what `python -m` runs
    port: int
    listen_var: str  # read by the settings; proves the recording works
    has_db: bool = True  # reads a database URL from the agentledger-db Secret

    def read(self, environ: Mapping[str, str]) -> Any:
        return self.settings.from_env(environ)

    def __str__(self) -> str:
        return self.name


TRACE_STORE = Svc(
    "trace-store",
    TraceStoreSettings,
    "services.trace_store",
    50051,
    "AGENTLEDGER_TRACE_STORE_LISTEN",
)
ENGINE = Svc("engine", EngineSettings, "services.engine", 50052, "AGENTLEDGER_ENGINE_LISTEN")
OPTIMIZER = Svc(
    "optimizer",
    OptimizerSettings,
    "services.optimizer",
    50053,
    "AGENTLEDGER_OPTIMIZER_LISTEN",
    has_db=False,  # stateless: deterministic functions plus reads of TraceStore history
)
SERVICES = [TRACE_STORE, ENGINE, OPTIMIZER]
each_service = pytest.mark.parametrize("svc", SERVICES, ids=str)


class RecordingEnv(dict[str, str]):
    """An environment mapping that remembers every variable name the settings ask for."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return super().__contains__(key)


def _load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def _kustomization() -> dict[str, Any]:
    (doc,) = _load(K8S / "kustomization.yaml")
    return doc


def _resources() -> Iterator[dict[str, Any]]:
    for name in _kustomization()["resources"]:
        yield from _load(K8S / name)


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in _resources() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _deployment(svc: Svc) -> dict[str, Any]:
    return _one("Deployment", svc.name)


def _pod(svc: Svc) -> dict[str, Any]:
    pod: dict[str, Any] = _deployment(svc)["spec"]["template"]["spec"]
    return pod


def _container(svc: Svc) -> dict[str, Any]:
    containers = _pod(svc)["containers"]
    found: list[dict[str, Any]] = [c for c in containers if c["name"] == svc.name]
    assert len(found) == 1
    return found[0]


def _settings(svc: Svc) -> Any:
    return svc.read(_container_env(_container(svc)))


def _secret_values(name: str) -> dict[str, str]:
    secret = _one("Secret", name)
    return {k: str(v) for k, v in secret.get("stringData", {}).items()}


def _config_values(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in _one("ConfigMap", name).get("data", {}).items()}


def _container_env(container: dict[str, Any]) -> dict[str, str]:
    """The environment the container gets, with references resolved in these manifests."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            values = _config_values(source["configMapRef"]["name"])
        else:
            values = _secret_values(source["secretRef"]["name"])
        env.update({source.get("prefix", "") + k: v for k, v in values.items()})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        ref = var["valueFrom"]
        if "fieldRef" in ref:
            path = ref["fieldRef"]["fieldPath"]
            assert path in FIELD_VALUES, f"{var['name']}: no test value for fieldRef {path}"
            env[var["name"]] = FIELD_VALUES[path]
            continue
        if "secretKeyRef" in ref:
            values = _secret_values(ref["secretKeyRef"]["name"])
            key = ref["secretKeyRef"]["key"]
        else:
            values = _config_values(ref["configMapKeyRef"]["name"])
            key = ref["configMapKeyRef"]["key"]
        assert key in values, f"{var['name']} refers to a missing key {key}"
        env[var["name"]] = values[key]
    return env


def _assert_service_target(target: str, svc: Svc) -> None:
    """`target` is `svc`'s Service in this namespace, on the Service's port."""
    host, port = target.rsplit(":", 1)
    service, namespace, *rest = host.split(".")
    assert (service, namespace, rest) == (svc.name, NAMESPACE, ["svc"])
    (service_port,) = _one("Service", service)["spec"]["ports"]
    assert int(port) == service_port["port"] == svc.port


def _asked(read: Callable[[Mapping[str, str]], object]) -> set[str]:
    environ = RecordingEnv()
    read(environ)
    return environ.asked


def test_every_yaml_document_loads_as_a_namespaced_resource() -> None:
    files = sorted(K8S.glob("*.y*ml"))
    assert len(files) > 1
    seen: set[tuple[str, str]] = set()
    for path in files:
        docs = _load(path)
        assert docs, f"{path.name} holds no YAML document"
        if path.name == "kustomization.yaml":
            continue
        for doc in docs:
            assert doc.get("apiVersion") and doc.get("kind"), path.name
            kind, name = doc["kind"], doc["metadata"]["name"]
            assert (kind, name) not in seen, f"{kind}/{name} defined twice"
            seen.add((kind, name))
            if kind != "Namespace":
                assert doc["metadata"].get("namespace") == NAMESPACE, f"{path.name}: {kind}/{name}"
    assert ("Namespace", NAMESPACE) in seen


def test_kustomization_lists_exactly_the_files_present() -> None:
    kustomization = _kustomization()
    assert kustomization["kind"] == "Kustomization"
    assert kustomization.get("namespace") == NAMESPACE
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    present = {p.name for p in K8S.iterdir()} - {"kustomization.yaml", "README.md"}
    assert set(listed) == present


@each_service
def test_sets_only_variables_the_settings_read(svc: Svc) -> None:
    read = _asked(svc.read)
    assert svc.listen_var in read  # the recording itself works
    env = _container_env(_container(svc))
    unknown = {name for name in env if name.startswith(PREFIX)} - read
    assert not unknown, f"set in the manifest but never read by {svc.settings.__name__}: {unknown}"


def test_configmap_holds_only_common_settings() -> None:
    common = _asked(CommonSettings.from_env)
    config = _config_values("agentledger-config")
    assert set(config) <= common, set(config) - common
    assert config["AGENTLEDGER_LOG_FORMAT"] == "json"
    assert config["AGENTLEDGER_LOG_LEVEL"] == "INFO"


@each_service
def test_settings_accept_the_manifest_environment(svc: Svc) -> None:
    settings = _settings(svc)
    assert settings.listen == f"0.0.0.0:{svc.port}"
    if svc.has_db:
        assert settings.db_url.startswith("postgresql://")
    else:
        assert not hasattr(settings, "db_url")
    assert settings.common.log_format == "json"
    assert settings.common.log_level == "INFO"


def test_trace_store_settings() -> None:
    assert _settings(TRACE_STORE).blob_backend == "database"  # shared by every replica


def test_engine_settings() -> None:
    settings = _settings(ENGINE)
    # Leases name the pod that holds them.
    assert settings.worker_id == FIELD_VALUES["metadata.name"]
    names = {v["name"]: v for v in _container(ENGINE)["env"]}
    assert names["AGENTLEDGER_ENGINE_WORKER_ID"]["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.name"
    }
    assert settings.lease_s == 30.0
    # The engine reaches the TraceStore and the Optimizer through their Services, on the
    # Services' ports; without the optimizer's address it would run without its proposals.
    _assert_service_target(settings.trace_store_target, TRACE_STORE)
    _assert_service_target(settings.optimizer_target, OPTIMIZER)


def test_optimizer_settings() -> None:
    settings = _settings(OPTIMIZER)
    # The forecaster reads history from the TraceStore through its Service.
    _assert_service_target(settings.trace_store_target, TRACE_STORE)
    assert settings.workers >= 1
    # No database: the container refers to no Secret at all.
    container = _container(OPTIMIZER)
    assert not any("secretRef" in source for source in container.get("envFrom", []))
    assert not any("secretKeyRef" in var.get("valueFrom", {}) for var in container["env"])


def test_engine_tasks_dir_is_a_writable_volume() -> None:
    tasks_dir = PurePosixPath(_settings(ENGINE).tasks_dir)
    assert tasks_dir.is_absolute()
    mounts = {PurePosixPath(m["mountPath"]): m for m in _container(ENGINE)["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod(ENGINE)["volumes"]}
    holding = [m for path, m in mounts.items() if path == tasks_dir or path in tasks_dir.parents]
    assert len(holding) == 1, f"{tasks_dir} is not on a mounted volume"
    assert not holding[0].get("readOnly", False)
    # A per-pod working copy: system_trace.json and artifacts are also TraceStore blobs.
    assert "emptyDir" in volumes[holding[0]["name"]]


@each_service
def test_command_runs_the_module(svc: Svc) -> None:
    command = _container(svc)["command"]
    assert command == ["python", "-m", svc.module]
    assert importlib.util.find_spec(f"{svc.module}.__main__") is not None


@each_service
def test_listen_port_matches_container_service_and_probes(svc: Svc) -> None:
    container = _container(svc)
    listen = _settings(svc).listen
    port = int(listen.rsplit(":", 1)[1])
    assert port == svc.port
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": port}
    service = _one("Service", svc.name)
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    (service_port,) = service["spec"]["ports"]
    assert service_port["port"] == port
    assert ports.get(service_port["targetPort"], service_port["targetPort"]) == port
    assert service_port["appProtocol"] == "grpc"
    for probe in PROBES:
        assert container[probe]["grpc"]["port"] == port, probe


def test_service_ports_are_distinct() -> None:
    ports = [svc.port for svc in SERVICES]
    assert len(ports) == len(set(ports))


@each_service
def test_probes_use_grpc(svc: Svc) -> None:
    container = _container(svc)
    for probe in PROBES:
        handlers = set(container[probe]) & {"grpc", "httpGet", "tcpSocket", "exec"}
        assert handlers == {"grpc"}, f"{probe} uses {handlers}"


@each_service
def test_replicated_spread_and_protected_from_drains(svc: Svc) -> None:
    deployment = _deployment(svc)
    assert deployment["spec"]["replicas"] >= 2
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert _one("Service", svc.name)["spec"]["selector"].items() <= pod_labels.items()
    pdb = _one("PodDisruptionBudget", svc.name)
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (spread,) = _pod(svc)["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    # Selectors must not reach the other services' pods.
    for other in SERVICES:
        if other != svc:
            other_labels = _deployment(other)["spec"]["template"]["metadata"]["labels"]
            assert not pdb["spec"]["selector"]["matchLabels"].items() <= other_labels.items()


@each_service
def test_termination_grace_outlasts_the_service_grace(svc: Svc) -> None:
    grace = inspect.signature(run_until_signalled).parameters["grace"].default
    pod = _pod(svc)
    pre_stop = _container(svc).get("lifecycle", {}).get("preStop", {}).get("sleep", {})
    assert pod["terminationGracePeriodSeconds"] > grace + pre_stop.get("seconds", 0)


def test_engine_abandons_runs_to_lapsing_leases() -> None:
    # The pod's grace does not have to outlast a lease: on SIGTERM the pool abandons its runs
    # (WorkerPool.stop) rather than draining them, and their leases lapse after lease_s. A grace
    # longer than the shutdown plus one lease would only hold a pod that does no more work.
    grace = inspect.signature(run_until_signalled).parameters["grace"].default
    pre_stop = _container(ENGINE)["lifecycle"]["preStop"]["sleep"]["seconds"]
    termination = _pod(ENGINE)["terminationGracePeriodSeconds"]
    assert grace + pre_stop < termination <= grace + pre_stop + _settings(ENGINE).lease_s


@each_service
def test_runs_locked_down(svc: Svc) -> None:
    pod = _pod(svc)
    container = _container(svc)
    assert pod["securityContext"]["runAsNonRoot"] is True
    context = container["securityContext"]
    assert context.get("runAsNonRoot", True) is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    # TraceStore blob uploads spool to temporary files, engine commands write temporary
    # files, libraries may expect a temporary folder: /tmp must stay writable.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind


def test_db_secret_is_a_template_with_placeholders_only() -> None:
    secret = _one("Secret", "agentledger-db")
    assert "data" not in secret, "base64 data would hide real values: use stringData"
    values = _secret_values("agentledger-db")
    for key in ("AGENTLEDGER_TRACE_STORE_DB_URL", "AGENTLEDGER_ENGINE_DB_URL"):
        url = urlsplit(values[key])
        assert url.password == PLACEHOLDER, key
        # The bundled PostgreSQL is initialized from the same Secret: the URL must agree.
        assert url.username == values["POSTGRES_USER"], key
        assert url.password == values["POSTGRES_PASSWORD"], key
        assert url.path == "/" + values["POSTGRES_DB"], key
        assert (url.hostname, url.port) == ("postgres", 5432), key
    for key, value in values.items():
        if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET", "KEY")):
            assert value == PLACEHOLDER, key
        parsed = urlsplit(value)
        if parsed.scheme and parsed.password is not None:
            assert parsed.password == PLACEHOLDER, key


def test_bundled_postgres() -> None:
    service = _one("Service", "postgres")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"][0]["port"] == 5432
    statefulset = _one("StatefulSet", "postgres")
    assert statefulset["spec"]["serviceName"] == "postgres"
    assert statefulset["spec"]["volumeClaimTemplates"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(container["readinessProbe"]["exec"]["command"])
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
