"""Every version of every known plan: read from plan folders, plus plans submitted inline."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import yaml

from agentledger.core.errors import Conflict, InvalidArgument, NotFound
from services.engine.domain.plan import Plan
from services.engine.domain.plan_loader import load_plan

BUILTIN_PLANS_DIR = Path(__file__).resolve().parents[1] / "plans"


def declares_nodes(text: str) -> bool:
    """Whether a YAML file is a plan (its top level has `nodes:`), so plan folders can also
    hold other files such as selection rules. Broken YAML counts as a plan, so that the loader
    reports where it breaks instead of the file being skipped silently."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return True
    return isinstance(root, yaml.MappingNode) and any(
        isinstance(key, yaml.ScalarNode) and key.value == "nodes" for key, _ in root.value
    )


class PlanCatalog:
    """Plans by id and version. One id + version names one content (by digest), so a task's
    recorded plan reference always means the same DAG."""

    def __init__(self, plans: Iterable[Plan] = ()) -> None:
        self._plans: dict[str, dict[int, Plan]] = {}
        # `add` checks then inserts; the lock keeps two concurrent submissions from both winning.
        self._lock = threading.Lock()
        for plan in plans:
            self.add(plan)

    @classmethod
    def from_folders(cls, folders: Sequence[Path], known_agents: Collection[str]) -> PlanCatalog:
        """Loads `*.yaml` / `*.yml` plan files under each folder, recursively, in a stable
        order. Raises InvalidArgument listing every broken file and every clash."""
        catalog = cls()
        problems: list[str] = []
        for folder in folders:
            if not folder.is_dir():
                problems.append(f"{folder}: plan folder does not exist")
                continue
            files = sorted(
                p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
            )
            for path in files:
                try:
                    text = path.read_text(encoding="utf-8")
                    if not declares_nodes(text):
                        continue
                    plan = load_plan(text, source=str(path), known_agents=known_agents)
                except UnicodeDecodeError as exc:
                    problems.append(f"{path}: not UTF-8 text ({exc.reason})")
                    continue
                except InvalidArgument as exc:
                    problems.append(exc.message)
                    continue
                clash = catalog._find(plan.id, plan.version)
                if clash is not None and clash.digest != plan.digest:
                    problems.append(
                        f"{path}: plan {plan.ref} is also defined, with different content, in "
                        f"{clash.source}; give one of them another version"
                    )
                elif clash is None:
                    catalog._plans.setdefault(plan.id, {})[plan.version] = plan
        if problems:
            raise InvalidArgument("\n".join(problems))
        return catalog

    def add(self, plan: Plan) -> Plan:
        """Registers a plan submitted inline. The same content again returns the stored plan;
        different content under a used id + version is refused."""
        with self._lock:
            existing = self.check(plan)
            if existing is None:
                self._plans.setdefault(plan.id, {})[plan.version] = plan
                return plan
            return existing

    def check(self, plan: Plan) -> Plan | None:
        """What `add` would do, without registering: the plan already held under the same id
        and version (same content), None if there is none; Conflict for different content."""
        existing = self._find(plan.id, plan.version)
        if existing is not None and existing.digest != plan.digest:
            raise Conflict(
                f"plan {plan.id} version {plan.version} already exists with different "
                f"content (from {existing.source or 'an earlier submission'}); raise its "
                f"version (latest is {max(self._plans[plan.id])})"
            )
        return existing

    def get(self, plan_id: str, version: int = 0) -> Plan:
        """The given version of a plan, or its latest when version is 0."""
        versions = self._versions_of(plan_id)
        if version == 0:
            return versions[max(versions)]
        if version not in versions:
            known = ", ".join(map(str, sorted(versions)))
            raise NotFound(f"version {version} of plan {plan_id} does not exist; versions: {known}")
        return versions[version]

    def list(self) -> list[Plan]:
        """The latest version of each plan, by id."""
        return [self.get(plan_id) for plan_id in sorted(self._plans)]

    def versions(self, plan_id: str) -> builtins.list[int]:
        return sorted(self._versions_of(plan_id))

    def _find(self, plan_id: str, version: int) -> Plan | None:
        return self._plans.get(plan_id, {}).get(version)

    def _versions_of(self, plan_id: str) -> dict[int, Plan]:
        versions = self._plans.get(plan_id)
        if not versions:
            known = ", ".join(sorted(self._plans)) or "none"
            raise NotFound(f"plan {plan_id!r} does not exist; known plans: {known}")
        return versions
