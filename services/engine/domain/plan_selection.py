"""Which plan a task runs: an ordered list of declarative rules, first match wins.

Selection is static and auditable (SPEC invariant 4): rules come from a file, never from
learning, and each selection records the rule's name and the values its conditions matched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentledger.core.errors import InvalidArgument, NotFound
from services.engine.domain.plan import MODES
from services.engine.domain.plan_catalog import BUILTIN_PLANS_DIR, PlanCatalog
from services.engine.domain.yaml_source import (
    FieldPath,
    Problem,
    SourceDocument,
    did_you_mean,
    parse_yaml,
    show_value,
)

BUILTIN_RULES_PATH = BUILTIN_PLANS_DIR / "selection.yaml"

CONDITIONS = ("mode", "goal_matches", "inputs_present", "owner", "tenant")
_RULE_KEYS = ("name", "description", "when", "plan")
_PLAN_REF = re.compile(r"([a-z0-9][a-z0-9_-]{0,63})(?:@([1-9][0-9]*))?")


@dataclass(frozen=True, slots=True)
class TaskAttributes:
    """What a rule may look at. Input values are not recorded, only which names are present,
    because inputs may be sensitive."""

    goal: str
    mode: str
    inputs: Mapping[str, Any]
    owner: str
    tenant: str


@dataclass(frozen=True, slots=True)
class Selection:
    plan_id: str
    version: int  # 0 = the latest version when the task is created
    rule_name: str  # "explicit" when the caller named the plan
    evidence: Mapping[str, Any] = field(default_factory=dict)  # condition -> value it matched

    @property
    def ref(self) -> str:
        return f"{self.plan_id}@{self.version}" if self.version else self.plan_id


def explicit(plan_id: str, version: int = 0) -> Selection:
    """The selection recorded when the caller names the plan itself."""
    return Selection(plan_id, version, "explicit", {})


def parse_plan_ref(ref: str) -> tuple[str, int]:
    """`data-cleanup` → ("data-cleanup", 0); `data-cleanup@2` → ("data-cleanup", 2)."""
    match = _PLAN_REF.fullmatch(ref)
    if match is None:
        raise InvalidArgument(f"{ref!r} is not a plan reference; expected <id> or <id>@<version>")
    return match[1], int(match[2] or 0)


@dataclass(frozen=True, slots=True)
class SelectionRule:
    """One rule: all given conditions must hold; an absent condition always holds."""

    name: str
    plan_id: str
    version: int = 0
    modes: tuple[str, ...] = ()
    goal_pattern: re.Pattern[str] | None = None
    inputs_present: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    line: int = 0  # where the rule starts in its file, for messages

    @property
    def matches_everything(self) -> bool:
        conditions = (self.modes, self.goal_pattern, self.inputs_present, self.owners, self.tenants)
        return not any(conditions)

    def match(self, attrs: TaskAttributes) -> dict[str, Any] | None:
        """The evidence (condition -> matched value) if every condition holds, else None."""
        evidence: dict[str, Any] = {}
        if self.modes:
            if attrs.mode not in self.modes:
                return None
            evidence["mode"] = attrs.mode
        if self.goal_pattern is not None:
            found = self.goal_pattern.search(attrs.goal)
            if found is None:
                return None
            evidence["goal_matches"] = found.group(0)
        if self.inputs_present:
            # Present means supplied with a value; a null is as good as missing.
            if any(attrs.inputs.get(name) is None for name in self.inputs_present):
                return None
            evidence["inputs_present"] = list(self.inputs_present)
        for key, allowed, value in (
            ("owner", self.owners, attrs.owner),
            ("tenant", self.tenants, attrs.tenant),
        ):
            if allowed:
                if value not in allowed:
                    return None
                evidence[key] = value
        return evidence


@dataclass(frozen=True, slots=True)
class SelectionRules:
    rules: tuple[SelectionRule, ...]
    source: str = ""

    @classmethod
    def load(cls, text: str, source: str) -> SelectionRules:
        """Parses a rules file; raises InvalidArgument listing every problem with its line."""
        doc = parse_yaml(text, source=source)
        return cls(_RulesReader(doc).read(), source)

    @classmethod
    def load_file(cls, path: str | Path) -> SelectionRules:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound(f"plan selection rules file {path} does not exist") from None
        return cls.load(text, str(path))

    def select(self, attrs: TaskAttributes) -> Selection:
        """The first rule whose conditions all hold."""
        for rule in self.rules:
            evidence = rule.match(attrs)
            if evidence is not None:
                return Selection(rule.plan_id, rule.version, rule.name, evidence)
        goal = attrs.goal if len(attrs.goal) <= 60 else attrs.goal[:57] + "..."
        seen = (
            f"mode={attrs.mode}, owner={attrs.owner}, tenant={attrs.tenant}, "
            f"inputs=[{', '.join(sorted(attrs.inputs))}], goal={goal!r}"
        )
        where = f" to {self.source}" if self.source else ""
        raise InvalidArgument(
            f"no plan selection rule matched ({seen}); pass a plan explicitly or add a rule{where}"
        )

    def check_plans(self, catalog: PlanCatalog) -> None:
        """Fails when a rule selects a plan or version the catalog does not hold, so a typo is
        found at startup rather than by the first task it would have routed."""
        problems = []
        for rule in self.rules:
            try:
                catalog.get(rule.plan_id, rule.version)
            except NotFound as exc:
                problems.append(f"{self.source}:{rule.line}: rule {rule.name!r}: {exc.message}")
        if problems:
            raise InvalidArgument("\n".join(problems))


class _RulesReader:
    """Checks the rules document by hand: it is small, and the messages can be specific."""

    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def read(self) -> tuple[SelectionRule, ...]:
        data = self.doc.data
        rules: list[SelectionRule] = []
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            self.problems.append(((), "expected a mapping with a `rules:` list"))
        else:
            self._unknown_keys((), data, ("rules",))
            if not data["rules"]:
                self.problems.append((("rules",), "must list at least one rule"))
            names: set[str] = set()
            for i, raw in enumerate(data["rules"]):
                rule = self._rule(("rules", i), raw)
                if rule is None:
                    continue
                if rule.name in names:
                    self.problems.append((("rules", i, "name"), f"duplicate rule {rule.name!r}"))
                names.add(rule.name)
                if rules and rules[-1].matches_everything:
                    # Probably a rule added below the default by mistake: say so rather than
                    # let it sit there, never firing.
                    msg = f"rule {rule.name!r} can never match: rule {rules[-1].name!r} above it matches every task"
                    self.problems.append((("rules", i), msg))
                rules.append(rule)
        if self.problems:
            raise self.doc.invalid(self.problems)
        return tuple(rules)

    def _unknown_keys(self, path: FieldPath, raw: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in raw:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                self.problems.append(
                    ((*path, key), f"unknown key{hint}; allowed: {', '.join(allowed)}")
                )

    def _rule(self, path: FieldPath, raw: Any) -> SelectionRule | None:
        if not isinstance(raw, dict):
            self.problems.append((path, f"expected a mapping, got {show_value(raw)}"))
            return None
        self._unknown_keys(path, raw, _RULE_KEYS)
        name, plan, when = raw.get("name"), raw.get("plan"), raw.get("when", {})
        if not isinstance(name, str) or not name.strip():
            self.problems.append(((*path, "name"), "every rule needs a non-empty name"))
            name = f"#{path[-1]}"
        plan_id, version = "", 0
        if not isinstance(plan, str) or not plan:
            self.problems.append(((*path, "plan"), f"rule {name!r}: plan must name a plan"))
        else:
            try:
                plan_id, version = parse_plan_ref(plan)
            except InvalidArgument as exc:
                self.problems.append(((*path, "plan"), f"rule {name!r}: {exc.message}"))
        if when is None:
            when = {}
        if not isinstance(when, dict):
            self.problems.append(((*path, "when"), f"rule {name!r}: expected a mapping"))
            return None
        self._unknown_keys((*path, "when"), when, CONDITIONS)
        where = (*path, "when")
        modes = self._strings(where, name, when, "mode")
        for mode in modes:
            if mode not in MODES:
                msg = f"rule {name!r}: {mode!r} is not one of {', '.join(MODES)}"
                self.problems.append(((*where, "mode"), msg))
        return SelectionRule(
            name=name,
            plan_id=plan_id,
            version=version,
            modes=modes,
            goal_pattern=self._pattern(where, name, when.get("goal_matches")),
            inputs_present=self._strings(where, name, when, "inputs_present"),
            owners=self._strings(where, name, when, "owner"),
            tenants=self._strings(where, name, when, "tenant"),
            line=self.doc.line(path) or 0,
        )

    def _strings(
        self, where: FieldPath, name: str, when: dict[str, Any], key: str
    ) -> tuple[str, ...]:
        """A condition given as one string or as a list of strings."""
        value = when.get(key)
        if value is None:
            return ()
        values = [value] if isinstance(value, str) else value
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            msg = f"rule {name!r}: expected a string or a non-empty list of strings"
            self.problems.append(((*where, key), msg))
            return ()
        return tuple(values)

    def _pattern(self, where: FieldPath, name: str, value: Any) -> re.Pattern[str] | None:
        if value is None:
            return None
        path = (*where, "goal_matches")
        if not isinstance(value, str):
            self.problems.append((path, f"rule {name!r}: expected a regular expression string"))
            return None
        try:
            return re.compile(value)
        except re.error as exc:
            msg = f"rule {name!r}: {value!r} is not a valid regular expression: {exc}"
            self.problems.append((path, msg))
            return None
