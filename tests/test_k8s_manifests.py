"""Static checks of the Kubernetes manifests in deploy/k8s against the code; no cluster needed."""

from __future__ import annotations

import functools
import importlib.util
import inspect
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from fastapi import FastAPI

from agentledger.core.errors import InvalidArgument
from agentledger.core.server import run_until_signalled
from agentledger.core.settings import CommonSettings
from agentledger.security.settings import MIN_KEY_BYTES, SecuritySettings
from gateway import serve
from gateway.app import create_app
from gateway.settings import GatewaySettings
from services.engine.domain.protect import InputSealer
from services.engine.settings import EngineSettings
from services.optimizer.settings import OptimizerSettings
from services.product.domain.quotas import QuotaDefaults
from services.product.settings import ProductSettings
from services.trace_store.settings import TraceStoreSettings

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
NAMESPACE = "agentledger"
PLACEHOLDER = "CHANGE_ME"
PREFIX = "AGENTLEDGER_"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
HEALTH_PATH = "/healthz"  # the gateway's unauthenticated health route
# What the kubelet puts in a fieldRef variable; a plausible value for each field used.
FIELD_VALUES = {"metadata.name": "engine-7d4b9c6f8-x2k9q"}
DB_SECRET = "agentledger-db"
MESH_KEY = ("agentledger-mesh", "mesh-key")  # (Secret, key)
INPUTS_KEY = ("agentledger-engine-inputs", "inputs-key")
SECURITY_DB_URL = (DB_SECRET, "AGENTLEDGER_SECURITY_DB_URL")
# Values that let every settings reader run to the end, so that it asks for every variable it
# knows: the JWT options are only read once a JWT key is set, and the security settings stop
# early without a mesh key unless authentication is off.
RECORDING_ENVIRONS: tuple[dict[str, str], ...] = (
    {"AGENTLEDGER_AUTH": "off"},
    {
        "AGENTLEDGER_MESH_KEY": "m" * MIN_KEY_BYTES,
        "AGENTLEDGER_JWT_KEY": "j" * MIN_KEY_BYTES,
        "AGENTLEDGER_JWT_ISSUER": "issuer",
        "AGENTLEDGER_JWT_AUDIENCE": "audience",
    },
)
# A key generated per (Secret, key) in place of a CHANGE_ME placeholder, as README.md tells the
# operator to do (the placeholders themselves are too short to start a process: see below).
GENERATED_KEYS: dict[tuple[str, str], str] = {}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Svc:
    """One service of the base: its Deployment, Service, PDB and container share `name`."""

    name: str
    settings: type[Any]  # a settings class with from_env(environ)
    module: str  # what `python -m` runs
    port: int
    listen_var: str  # read by the settings; proves the recording works
    has_db: bool = True  # reads a database URL of its own from the agentledger-db Secret
    http: bool = False  # serves HTTP (the gateway), not gRPC

    def read(self, environ: Mapping[str, str]) -> Any:
        return self.settings.from_env(environ)

    @property
    def protocol(self) -> str:
        """The name of its container and Service port, and the Service's appProtocol."""
        return "http" if self.http else "grpc"

    def listen(self, settings: Any) -> str:
        return f"{settings.host}:{settings.port}" if self.http else str(settings.listen)

    def grace(self) -> float:
        """How long the process lets calls in flight finish after SIGTERM."""
        if self.http:  # uvicorn's graceful shutdown, as `python -m gateway` configures it
            timeout = serve.config(FastAPI()).timeout_graceful_shutdown
            assert timeout is not None
            return float(timeout)
        return float(inspect.signature(run_until_signalled).parameters["grace"].default)

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
PRODUCT = Svc("product", ProductSettings, "services.product", 50054, "AGENTLEDGER_PRODUCT_LISTEN")
GATEWAY = Svc(
    "gateway",
    GatewaySettings,  # reads the security settings itself
    "gateway",
    8080,
    "AGENTLEDGER_GATEWAY_LISTEN",
    has_db=False,  # stateless: tokens, shares and the audit log are in the security database
    http=True,
)
GRPC_SERVICES = [TRACE_STORE, ENGINE, OPTIMIZER, PRODUCT]
SERVICES = [*GRPC_SERVICES, GATEWAY]
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


@functools.cache
def _load(path: Path) -> tuple[dict[str, Any], ...]:
    """The documents of one file, parsed once per test run (the tests only read them)."""
    with path.open(encoding="utf-8") as f:
        return tuple(doc for doc in yaml.load_all(f, Loader=_LOADER) if doc is not None)


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


def _settings(svc: Svc, root: Path) -> Any:
    return svc.read(_process_env(svc, root))


def _security(svc: Svc, root: Path) -> SecuritySettings:
    """What the process's MeshSecurity.from_env (gRPC services) or GatewaySettings reads."""
    return SecuritySettings.from_env(_process_env(svc, root))


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


def _mounted_files(svc: Svc) -> dict[PurePosixPath, tuple[str, str]]:
    """The files the container sees from Secret volumes: path -> (Secret, key)."""
    volumes = {v["name"]: v for v in _pod(svc)["volumes"]}
    files: dict[PurePosixPath, tuple[str, str]] = {}
    for mount in _container(svc).get("volumeMounts", []):
        source = volumes[mount["name"]].get("secret")
        if source is None:
            continue
        assert mount.get("readOnly") is True, f"{svc}: {mount['name']} is not mounted read-only"
        assert "subPath" not in mount  # a subPath mount would not follow a rotated Secret
        name = source["secretName"]
        keys = _secret_values(name)
        for item in source.get("items") or [{"key": k, "path": k} for k in keys]:
            assert item["key"] in keys, f"{svc}: {name} has no key {item['key']}"
            files[PurePosixPath(mount["mountPath"]) / item["path"]] = (name, item["key"])
    return files


def _secret_file(secret: str, key: str) -> str:
    value = _secret_values(secret)[key]
    if value == PLACEHOLDER:
        return GENERATED_KEYS.setdefault((secret, key), secrets.token_urlsafe(48))
    return value


def _process_env(svc: Svc, root: Path) -> dict[str, str]:
    """The container's environment, with every *_FILE variable pointing at a copy (under
    `root`) of the Secret file mounted at that path in the pod."""
    env = _container_env(_container(svc))
    files = _mounted_files(svc)
    for name, value in env.items():
        if not name.endswith("_FILE"):
            continue
        path = PurePosixPath(value)
        assert path in files, f"{svc}: {name}={value} is not a file of a mounted Secret"
        local = root / svc.name / path.relative_to("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(_secret_file(*files[path]) + "\n", encoding="utf-8")
        env[name] = str(local)
    return env


def _secret_key_refs(svc: Svc) -> set[tuple[str, str]]:
    refs = set()
    for var in _container(svc)["env"]:
        if "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            refs.add((ref["name"], ref["key"]))
    return refs


def _assert_service_target(target: str, svc: Svc) -> None:
    """`target` is `svc`'s Service in this namespace, on the Service's port."""
    host, port = target.rsplit(":", 1)
    service, namespace, *rest = host.split(".")
    assert (service, namespace, rest) == (svc.name, NAMESPACE, ["svc"])
    (service_port,) = _one("Service", service)["spec"]["ports"]
    assert int(port) == service_port["port"] == svc.port


def _asked(read: Callable[[Mapping[str, str]], object]) -> set[str]:
    asked: set[str] = set()
    for values in RECORDING_ENVIRONS:
        environ = RecordingEnv(values)
        read(environ)
        asked |= environ.asked
    return asked


def _scalars(node: Any) -> Iterator[str]:
    """Every key and value of a YAML document, as text."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _scalars(value)
    elif isinstance(node, list):
        for value in node:
            yield from _scalars(value)
    else:
        yield str(node)


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


def test_every_deployment_is_checked() -> None:
    deployments = {d["metadata"]["name"] for d in _resources() if d["kind"] == "Deployment"}
    assert deployments == {svc.name for svc in SERVICES}


@each_service
def test_every_process_reads_the_security_settings(svc: Svc, tmp_path: Path) -> None:
    if svc.http:
        assert _settings(svc, tmp_path).security == _security(svc, tmp_path)
    else:
        spec = importlib.util.find_spec(f"{svc.module}.__main__")
        assert spec is not None and spec.origin is not None
        source = Path(spec.origin).read_text(encoding="utf-8")
        assert "MeshSecurity.from_env(" in source, f"{svc.module} runs no authentication"


@each_service
def test_sets_only_variables_the_settings_read(svc: Svc) -> None:
    # Besides its own settings every process reads the security settings (see above).
    read = _asked(svc.read) | _asked(SecuritySettings.from_env)
    assert svc.listen_var in read  # the recording itself works
    assert "AGENTLEDGER_MESH_KEY_FILE" in read
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
def test_settings_accept_the_manifest_environment(svc: Svc, tmp_path: Path) -> None:
    settings = _settings(svc, tmp_path)
    assert svc.listen(settings) == f"0.0.0.0:{svc.port}"
    if svc.has_db:
        assert settings.db_url.startswith("postgresql://")
    else:
        assert not hasattr(settings, "db_url")
    assert settings.common.log_format == "json"
    assert settings.common.log_level == "INFO"


def test_every_process_authenticates_against_one_mesh(tmp_path: Path) -> None:
    found = {svc.name: _security(svc, tmp_path) for svc in SERVICES}
    for name, security in found.items():
        assert security.auth is True, name
        assert len(security.mesh_key) >= MIN_KEY_BYTES, name
        assert security.db_url.startswith("postgresql://"), name
    # One mesh: every process checks identities with the same key, and refusals, tokens, shares
    # and the audit chain are in one security database.
    assert len({s.mesh_key for s in found.values()}) == 1
    assert len({(s.db_url, s.db_schema) for s in found.values()}) == 1


@each_service
def test_mesh_key_is_a_read_only_file_of_the_mesh_secret(svc: Svc) -> None:
    env = _container_env(_container(svc))
    # A file, never a variable: a variable is inherited by the environment of every child
    # process, and a plan can read any variable of the Engine's through secret://NAME.
    assert "AGENTLEDGER_MESH_KEY" not in env
    assert _mounted_files(svc)[PurePosixPath(env["AGENTLEDGER_MESH_KEY_FILE"])] == MESH_KEY
    assert _secret_key_refs(svc) >= {SECURITY_DB_URL}


def test_no_manifest_turns_authentication_off() -> None:
    for doc in _resources():
        assert not any("AGENTLEDGER_AUTH" in text for text in _scalars(doc)), (
            f"{doc['kind']}/{doc['metadata']['name']} sets AGENTLEDGER_AUTH"
        )
    # Unset means on.
    assert SecuritySettings.from_env({"AGENTLEDGER_MESH_KEY": "m" * MIN_KEY_BYTES}).auth is True


# Per service: the Secret keys it reads as variables, and the Secret keys mounted as files.
NEEDED_SECRETS: dict[Svc, tuple[set[tuple[str, str]], set[tuple[str, str]]]] = {
    TRACE_STORE: ({(DB_SECRET, "AGENTLEDGER_TRACE_STORE_DB_URL"), SECURITY_DB_URL}, {MESH_KEY}),
    ENGINE: ({(DB_SECRET, "AGENTLEDGER_ENGINE_DB_URL"), SECURITY_DB_URL}, {MESH_KEY, INPUTS_KEY}),
    OPTIMIZER: ({SECURITY_DB_URL}, {MESH_KEY}),  # no database of its own
    PRODUCT: ({(DB_SECRET, "AGENTLEDGER_PRODUCT_DB_URL"), SECURITY_DB_URL}, {MESH_KEY}),
    GATEWAY: ({SECURITY_DB_URL}, {MESH_KEY}),
}


@each_service
def test_each_process_gets_only_the_secrets_it_needs(svc: Svc) -> None:
    refs, files = NEEDED_SECRETS[svc]
    container = _container(svc)
    assert not any("secretRef" in source for source in container.get("envFrom", []))
    assert _secret_key_refs(svc) == refs
    assert set(_mounted_files(svc).values()) == files


def test_key_secrets_are_templates_that_cannot_start_a_process() -> None:
    # An unchanged template must not start a mesh whose key anyone can read in this repository:
    # both placeholders are too short for the code to accept them as keys.
    for secret, key in (MESH_KEY, INPUTS_KEY):
        assert "data" not in _one("Secret", secret), "base64 data would hide real values"
        assert _secret_values(secret) == {key: PLACEHOLDER}
    with pytest.raises(InvalidArgument, match=f"at least {MIN_KEY_BYTES}"):
        SecuritySettings.from_env({"AGENTLEDGER_MESH_KEY": PLACEHOLDER})
    with pytest.raises(ValueError, match="at least 16"):
        InputSealer(PLACEHOLDER.encode())


def test_trace_store_settings(tmp_path: Path) -> None:
    assert _settings(TRACE_STORE, tmp_path).blob_backend == "database"  # shared by every replica


def test_engine_settings(tmp_path: Path) -> None:
    settings = _settings(ENGINE, tmp_path)
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
    # Without the Product service's address submissions would pass unchecked against quotas.
    _assert_service_target(settings.product_target, PRODUCT)


def test_engine_seals_inputs_with_a_key_of_its_own(tmp_path: Path) -> None:
    env = _container_env(_container(ENGINE))
    files = _mounted_files(ENGINE)
    assert "AGENTLEDGER_ENGINE_INPUTS_KEY" not in env
    assert files[PurePosixPath(env["AGENTLEDGER_ENGINE_INPUTS_KEY_FILE"])] == INPUTS_KEY
    # Not the mesh key (the fallback), so that rotating the mesh key keeps stored inputs
    # readable; and set, so that the Engine does not try to make a key file in its data folder.
    settings = _settings(ENGINE, tmp_path)
    assert settings.inputs_key
    assert settings.inputs_key != _security(ENGINE, tmp_path).mesh_key
    InputSealer(settings.inputs_key)
    # secret://NAME in a plan reads the secrets folder; it must not reach the key files.
    secrets_dir = settings.agents.secrets_dir
    assert secrets_dir is None or not any(PurePosixPath(secrets_dir) in p.parents for p in files)


def test_optimizer_settings(tmp_path: Path) -> None:
    settings = _settings(OPTIMIZER, tmp_path)
    # The forecaster reads history from the TraceStore through its Service.
    _assert_service_target(settings.trace_store_target, TRACE_STORE)
    assert settings.workers >= 1


def test_product_settings(tmp_path: Path) -> None:
    settings = _settings(PRODUCT, tmp_path)
    # Tasks and plans come from the Engine, traces from the TraceStore, through their Services.
    _assert_service_target(settings.engine_target, ENGINE)
    _assert_service_target(settings.trace_store_target, TRACE_STORE)
    # By default the same database as the Engine's (its tables are pd_*, its history separate).
    db = _secret_values(DB_SECRET)
    assert settings.db_url == db["AGENTLEDGER_PRODUCT_DB_URL"] == db["AGENTLEDGER_ENGINE_DB_URL"]
    # The sweep that records goal statuses and metering of ended tasks runs.
    assert settings.sweep_s == 2.0
    assert settings.insights.export_max_bytes == 1 << 30
    # The example owner defaults; what is left out, and every tenant limit, is unlimited (0).
    assert settings.quotas == QuotaDefaults(
        owner={"concurrent_tasks": 20, "daily_exports": 200}, tenant={}
    )
    # No rewording endpoint: its key would belong in a Secret, not in the manifest.
    assert settings.rephraser.url == ""
    assert settings.rephraser.api_key == ""


def test_gateway_settings(tmp_path: Path) -> None:
    settings = _settings(GATEWAY, tmp_path)
    # Audit records name the pod that wrote them.
    assert settings.worker_id == FIELD_VALUES["metadata.name"]
    names = {v["name"]: v for v in _container(GATEWAY)["env"]}
    assert names["AGENTLEDGER_GATEWAY_WORKER_ID"]["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.name"
    }
    # The API reaches the Engine, the TraceStore and the Product service through their Services
    # (the gateway's default for the Product service, 127.0.0.1, is unreachable in a pod).
    _assert_service_target(settings.engine_target, ENGINE)
    _assert_service_target(settings.trace_store_target, TRACE_STORE)
    _assert_service_target(settings.product_target, PRODUCT)
    assert settings.timeout_s > 0
    # README.md: the first admin token is made with the CLI inside a gateway pod, which reads
    # the security database from the pod's environment.
    assert importlib.util.find_spec("agentledger.cli.__main__") is not None
    assert "AGENTLEDGER_SECURITY_DB_URL" in names


async def test_gateway_health_route_needs_no_credentials() -> None:
    app = create_app(cast(Any, None))  # the health route touches no gateway state
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.get(HEALTH_PATH)
    assert response.status_code == 200


def test_engine_tasks_dir_is_a_writable_volume(tmp_path: Path) -> None:
    tasks_dir = PurePosixPath(_settings(ENGINE, tmp_path).tasks_dir)
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
def test_listen_port_matches_container_service_and_probes(svc: Svc, tmp_path: Path) -> None:
    container = _container(svc)
    listen = svc.listen(_settings(svc, tmp_path))
    port = int(listen.rsplit(":", 1)[1])
    assert port == svc.port
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {svc.protocol: port}
    service = _one("Service", svc.name)
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    (service_port,) = service["spec"]["ports"]
    assert service_port["port"] == port
    assert ports.get(service_port["targetPort"], service_port["targetPort"]) == port
    assert service_port["appProtocol"] == svc.protocol
    for probe in PROBES:
        if svc.http:
            get = container[probe]["httpGet"]
            assert get["path"] == HEALTH_PATH, probe
            assert get.get("scheme", "HTTP") == "HTTP", probe
            assert ports.get(get["port"], get["port"]) == port, probe
        else:
            assert container[probe]["grpc"]["port"] == port, probe


def test_service_ports_are_distinct() -> None:
    ports = [svc.port for svc in SERVICES]
    assert len(ports) == len(set(ports))


@each_service
def test_probes_use_the_protocol_served(svc: Svc) -> None:
    container = _container(svc)
    expected = {"httpGet"} if svc.http else {"grpc"}
    for probe in PROBES:
        handlers = set(container[probe]) & {"grpc", "httpGet", "tcpSocket", "exec"}
        assert handlers == expected, f"{probe} uses {handlers}"


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
    grace = svc.grace()
    pod = _pod(svc)
    pre_stop = _container(svc).get("lifecycle", {}).get("preStop", {}).get("sleep", {})
    assert pod["terminationGracePeriodSeconds"] > grace + pre_stop.get("seconds", 0)


def test_engine_abandons_runs_to_lapsing_leases(tmp_path: Path) -> None:
    # The pod's grace does not have to outlast a lease: on SIGTERM the pool abandons its runs
    # (WorkerPool.stop) rather than draining them, and their leases lapse after lease_s. A grace
    # longer than the shutdown plus one lease would only hold a pod that does no more work.
    grace = inspect.signature(run_until_signalled).parameters["grace"].default
    pre_stop = _container(ENGINE)["lifecycle"]["preStop"]["sleep"]["seconds"]
    termination = _pod(ENGINE)["terminationGracePeriodSeconds"]
    assert grace + pre_stop < termination <= grace + pre_stop + _settings(ENGINE, tmp_path).lease_s


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
    # Keys are readable by the process's group (fsGroup) only, not by every user of the node.
    for volume in volumes.values():
        if "secret" in volume:
            assert volume["secret"]["defaultMode"] == 0o440, volume["name"]
            assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind


def test_db_secret_is_a_template_with_placeholders_only() -> None:
    secret = _one("Secret", "agentledger-db")
    assert "data" not in secret, "base64 data would hide real values: use stringData"
    values = _secret_values("agentledger-db")
    for key in (
        "AGENTLEDGER_TRACE_STORE_DB_URL",
        "AGENTLEDGER_ENGINE_DB_URL",
        "AGENTLEDGER_PRODUCT_DB_URL",
        "AGENTLEDGER_SECURITY_DB_URL",
    ):
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
