"""Static checks of the Kubernetes manifests in deploy/k8s against the code; no cluster needed."""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from agentledger.core.server import run_until_signalled
from agentledger.core.settings import CommonSettings
from services.trace_store.settings import TraceStoreSettings

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
NAMESPACE = "agentledger"
PLACEHOLDER = "CHANGE_ME"
PREFIX = "AGENTLEDGER_"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


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


def _deployment() -> dict[str, Any]:
    return _one("Deployment", "trace-store")


def _container() -> dict[str, Any]:
    containers = _deployment()["spec"]["template"]["spec"]["containers"]
    found: list[dict[str, Any]] = [c for c in containers if c["name"] == "trace-store"]
    assert len(found) == 1
    return found[0]


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
        if "secretKeyRef" in ref:
            values = _secret_values(ref["secretKeyRef"]["name"])
            key = ref["secretKeyRef"]["key"]
        else:
            values = _config_values(ref["configMapKeyRef"]["name"])
            key = ref["configMapKeyRef"]["key"]
        assert key in values, f"{var['name']} refers to a missing key {key}"
        env[var["name"]] = values[key]
    return env


def _asked(read: Any) -> set[str]:
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


def test_trace_store_sets_only_variables_the_settings_read() -> None:
    read = _asked(TraceStoreSettings.from_env)
    assert "AGENTLEDGER_TRACE_STORE_LISTEN" in read  # the recording itself works
    env = _container_env(_container())
    unknown = {name for name in env if name.startswith(PREFIX)} - read
    assert not unknown, f"set in the manifest but never read by TraceStoreSettings: {unknown}"


def test_configmap_holds_only_common_settings() -> None:
    common = _asked(CommonSettings.from_env)
    config = _config_values("agentledger-config")
    assert set(config) <= common, set(config) - common
    assert config["AGENTLEDGER_LOG_FORMAT"] == "json"
    assert config["AGENTLEDGER_LOG_LEVEL"] == "INFO"


def test_settings_accept_the_manifest_environment() -> None:
    settings = TraceStoreSettings.from_env(_container_env(_container()))
    assert settings.listen == "0.0.0.0:50051"
    assert settings.blob_backend == "database"  # shared by every replica
    assert settings.db_url.startswith("postgresql://")
    assert settings.common.log_format == "json"
    assert settings.common.log_level == "INFO"


def test_command_runs_the_trace_store_module() -> None:
    command = _container()["command"]
    assert command == ["python", "-m", "services.trace_store"]
    assert importlib.util.find_spec("services.trace_store.__main__") is not None


def test_listen_port_matches_container_service_and_probes() -> None:
    container = _container()
    listen = TraceStoreSettings.from_env(_container_env(container)).listen
    port = int(listen.rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": port}
    service = _one("Service", "trace-store")
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    (service_port,) = service["spec"]["ports"]
    assert service_port["port"] == port
    assert ports.get(service_port["targetPort"], service_port["targetPort"]) == port
    assert service_port["appProtocol"] == "grpc"
    for probe in PROBES:
        assert container[probe]["grpc"]["port"] == port, probe


def test_probes_use_grpc() -> None:
    container = _container()
    for probe in PROBES:
        handlers = set(container[probe]) & {"grpc", "httpGet", "tcpSocket", "exec"}
        assert handlers == {"grpc"}, f"{probe} uses {handlers}"


def test_trace_store_is_replicated_and_protected_from_drains() -> None:
    deployment = _deployment()
    assert deployment["spec"]["replicas"] >= 2
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert _one("Service", "trace-store")["spec"]["selector"].items() <= pod_labels.items()
    pdb = _one("PodDisruptionBudget", "trace-store")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_termination_grace_outlasts_the_service_grace() -> None:
    grace = inspect.signature(run_until_signalled).parameters["grace"].default
    pod = _deployment()["spec"]["template"]["spec"]
    pre_stop = _container().get("lifecycle", {}).get("preStop", {}).get("sleep", {})
    assert pod["terminationGracePeriodSeconds"] > grace + pre_stop.get("seconds", 0)


def test_trace_store_runs_locked_down() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    container = _container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    context = container["securityContext"]
    assert context.get("runAsNonRoot", True) is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    # Blob uploads spool to temporary files: /tmp must stay writable.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind


def test_db_secret_is_a_template_with_placeholders_only() -> None:
    secret = _one("Secret", "agentledger-db")
    assert "data" not in secret, "base64 data would hide real values: use stringData"
    values = _secret_values("agentledger-db")
    url = urlsplit(values["AGENTLEDGER_TRACE_STORE_DB_URL"])
    assert url.password == PLACEHOLDER
    for key, value in values.items():
        if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET", "KEY")):
            assert value == PLACEHOLDER, key
        parsed = urlsplit(value)
        if parsed.scheme and parsed.password is not None:
            assert parsed.password == PLACEHOLDER, key
    # The bundled PostgreSQL is initialized from the same Secret: the URL must agree with it.
    assert url.username == values["POSTGRES_USER"]
    assert url.password == values["POSTGRES_PASSWORD"]
    assert url.path == "/" + values["POSTGRES_DB"]
    assert (url.hostname, url.port) == ("postgres", 5432)


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
