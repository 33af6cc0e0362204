"""The RBAC policy (roles -> permissions, RPC -> permission) and the one authorization decision
that the gateway and the services share, object-level checks included (SPEC 1.6).

``authorize`` answers 401 without an identity, 404 for a task the caller cannot reach (so that a
foreign task's existence does not leak), 403 for a role that lacks the permission or a sharee
asking for an owner-only action, else 200. Reasons name the role, the permission and the task.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from agentledger.core.errors import (
    AgentLedgerError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)

if TYPE_CHECKING:
    from agentledger.security.identity import Principal

DEFAULT_POLICY = Path(__file__).resolve().parent / "policy.yaml"
SERVICE_ROLE = "service"
# The roles of the packaged policy, least to most powerful.
ROLES = ("viewer", "operator", "owner", "admin", SERVICE_ROLE)
SCOPES = ("none", "shared", "own")
ANY_TASK = "task.any"
_METHOD = re.compile(r"^/[A-Za-z_][\w.]*/[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Permission:
    name: str
    scope: str  # one of SCOPES
    description: str  # a verb phrase: "export the task"


@dataclass(frozen=True)
class TaskAcl:
    """Who may reach a task: its owner (within a tenant) and the subjects it was shared with."""

    task_id: str
    owner: str
    tenant: str = ""
    shared_with: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int  # 200, 401, 403 or 404, as the gateway answers it
    reason: str

    def raise_if_denied(self) -> None:
        """Raises the domain error for a refusal (Unauthenticated, PermissionDenied, NotFound)."""
        if not self.allowed:
            raise _ERRORS[self.status](self.reason)


_ERRORS: dict[int, type[AgentLedgerError]] = {
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
}


class Policy:
    """A validated policy file: build with ``Policy.load``."""

    def __init__(
        self,
        permissions: Mapping[str, Permission],
        grants: Mapping[str, frozenset[str]],
        assignable: tuple[str, ...],
        rpc: Mapping[str, str],
        public_prefixes: tuple[str, ...],
        source: str,
    ) -> None:
        self._permissions = dict(permissions)
        self._grants = dict(grants)
        self._assignable = assignable
        self._rpc = dict(rpc)
        self._public = public_prefixes
        self.source = source

    @classmethod
    def load(cls, path: Path | str | None = None) -> Policy:
        """The policy in ``path`` (default: the packaged one, read once), validated."""
        if path is None:
            return _packaged()
        return _parse(Path(path))

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self._grants)

    @property
    def assignable_roles(self) -> tuple[str, ...]:
        """Roles that API tokens and external identities may carry (all but ``service``)."""
        return self._assignable

    @property
    def permissions(self) -> tuple[str, ...]:
        return tuple(self._permissions)

    @property
    def rpc_methods(self) -> tuple[str, ...]:
        return tuple(self._rpc)

    def is_role(self, role: str) -> bool:
        return role in self._grants

    def permissions_of(self, role: str) -> frozenset[str]:
        try:
            return self._grants[role]
        except KeyError:
            raise InvalidArgument(
                f"role {role!r} is not defined in {self.source}; roles: {', '.join(self.roles)}"
            ) from None

    def allows(self, role: str, permission: str) -> bool:
        self._permission(permission)
        return permission in self._grants.get(role, frozenset())

    def scope(self, permission: str) -> str:
        return self._permission(permission).scope

    def describe(self, permission: str) -> str:
        return self._permission(permission).description

    def rpc_permission(self, method: str) -> str | None:
        """The permission ``method`` ("/pkg.Service/Method") needs; None when not listed."""
        return self._rpc.get(method)

    def is_public(self, method: str) -> bool:
        return method.startswith(self._public)

    def roles_with(self, permission: str) -> tuple[str, ...]:
        """The assignable roles that hold ``permission``, least powerful first."""
        self._permission(permission)
        return tuple(r for r in self._assignable if permission in self._grants[r])

    def _permission(self, name: str) -> Permission:
        try:
            return self._permissions[name]
        except KeyError:
            raise InvalidArgument(f"permission {name!r} is not declared in {self.source}") from None


def authorize(
    policy: Policy,
    principal: Principal | None,
    permission: str,
    acl: TaskAcl | None = None,
    *,
    task_id: str = "",
    task_missing: bool = False,
) -> Decision:
    """May ``principal`` use ``permission`` (on the task ``acl`` describes, when task-scoped)?

    For a task-scoped permission pass the task's ``acl``; no ``acl`` (or ``task_missing``) means
    the task does not exist, which answers 404 like a task the caller cannot reach.
    """
    scope = policy.scope(permission)
    if principal is None:
        return Decision(
            False, 401, f"{permission} needs an identity: send 'Authorization: Bearer <token>'"
        )
    if scope == "none":
        if policy.allows(principal.role, permission):
            return Decision(True, 200, f"role {principal.role} has {permission}")
        return Decision(False, 403, _lacks(policy, principal.role, permission, ""))
    task = acl.task_id if acl is not None else task_id
    if acl is None or task_missing or not _reaches(policy, principal, acl):
        # The same answer for a task that does not exist and one that is not the caller's.
        return Decision(
            False,
            404,
            f"task {task!r} was not found: it does not exist, or it is neither "
            f"{principal.subject}'s nor shared with them",
        )
    if not policy.allows(principal.role, permission):
        return Decision(False, 403, _lacks(policy, principal.role, permission, task))
    if scope == "own" and not _owns(principal, acl) and not policy.allows(principal.role, ANY_TASK):
        return Decision(
            False,
            403,
            f"only the owner of task {task!r} can {policy.describe(permission)} ({permission}); "
            f"it was shared with {principal.subject}, which allows viewing and steering it: "
            f"ask its owner {acl.owner}",
        )
    return Decision(True, 200, f"role {principal.role} has {permission} on task {task!r}")


def _owns(principal: Principal, acl: TaskAcl) -> bool:
    same_tenant = not (acl.tenant and principal.tenant) or acl.tenant == principal.tenant
    return acl.owner == principal.subject and same_tenant


def _reaches(policy: Policy, principal: Principal, acl: TaskAcl) -> bool:
    return (
        policy.allows(principal.role, ANY_TASK)
        or _owns(principal, acl)
        or principal.subject in acl.shared_with
    )


def _lacks(policy: Policy, role: str, permission: str, task: str) -> str:
    on = f" on task {task!r}" if task else ""
    holders = policy.roles_with(permission)
    hint = (
        f"; roles that have it: {', '.join(holders)}"
        if holders
        else "; only the mesh's services have it"
    )
    return f"role {role} lacks {permission}, needed to {policy.describe(permission)}{on}{hint}"


# ---------------------------------------------------------------- loading and validation


@functools.cache
def _packaged() -> Policy:
    return _parse(DEFAULT_POLICY)


def _parse(path: Path) -> Policy:
    source = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidArgument(f"policy file {source} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"policy file {source} is not valid YAML: {exc}") from None
    return _build(doc, source)


def _fail(source: str, entry: str, problem: str) -> InvalidArgument:
    return InvalidArgument(f"policy {source}: {entry}: {problem}")


def _mapping(value: Any, source: str, entry: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _fail(source, entry, "must be a mapping with text keys")
    return value


def _strings(value: Any, source: str, entry: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(source, entry, "must be a list of names")
    return value


def _build(doc: Any, source: str) -> Policy:
    top = _mapping(doc, source, "document")
    extra = set(top) - {"version", "permissions", "roles", "rpc", "public_prefixes"}
    if extra:
        raise _fail(source, ", ".join(sorted(extra)), "unknown top-level key")
    if top.get("version") != 1:
        raise _fail(source, "version", f"{top.get('version')!r} is not supported; use 1")
    permissions = _permissions(_mapping(top.get("permissions"), source, "permissions"), source)
    grants, assignable = _roles(_mapping(top.get("roles"), source, "roles"), permissions, source)
    rpc: dict[str, str] = {}
    for method, permission in _mapping(top.get("rpc", {}), source, "rpc").items():
        if not _METHOD.match(method):
            raise _fail(source, f"rpc {method}", "is not a method name like /pkg.Service/Method")
        if permission not in permissions:
            raise _fail(source, f"rpc {method}", f"permission {permission!r} is not declared")
        rpc[method] = permission
    prefixes = _strings(top.get("public_prefixes", []), source, "public_prefixes")
    for prefix in prefixes:
        if not prefix.startswith("/"):
            raise _fail(source, f"public_prefixes {prefix}", "must start with '/'")
    return Policy(permissions, grants, assignable, rpc, tuple(prefixes), source)


def _permissions(raw: dict[str, Any], source: str) -> dict[str, Permission]:
    out: dict[str, Permission] = {}
    for name, spec in raw.items():
        entry = f"permission {name}"
        body = _mapping(spec, source, entry)
        if set(body) - {"scope", "description"}:
            raise _fail(source, entry, "takes only scope and description")
        scope = body.get("scope")
        if scope not in SCOPES:
            raise _fail(source, entry, f"scope {scope!r} is not one of {', '.join(SCOPES)}")
        out[name] = Permission(name, scope, str(body.get("description") or name))
    return out


def _roles(
    raw: dict[str, Any], permissions: Mapping[str, Permission], source: str
) -> tuple[dict[str, frozenset[str]], tuple[str, ...]]:
    own: dict[str, set[str]] = {}
    parents: dict[str, list[str]] = {}
    assignable: list[str] = []
    for name, spec in raw.items():
        entry = f"role {name}"
        body = _mapping(spec, source, entry)
        if set(body) - {"description", "inherits", "permissions", "assignable"}:
            raise _fail(source, entry, "takes description, inherits, permissions, assignable")
        names = _strings(body.get("permissions", []), source, f"{entry} permissions")
        if "*" in names:
            names = list(permissions)
        for p in names:
            if p not in permissions:
                raise _fail(source, entry, f"permission {p!r} is not declared under permissions")
        own[name] = set(names)
        parents[name] = _strings(body.get("inherits", []), source, f"{entry} inherits")
        flag = body.get("assignable", True)
        if not isinstance(flag, bool):
            raise _fail(source, entry, f"assignable must be true or false, not {flag!r}")
        if flag and name != SERVICE_ROLE:
            assignable.append(name)
    for name, inherited in parents.items():
        for parent in inherited:
            if parent not in own:
                raise _fail(source, f"role {name}", f"inherits {parent!r}, which is not a role")
    if SERVICE_ROLE not in own:
        raise _fail(source, "roles", f"the role {SERVICE_ROLE!r} (the mesh's services) is missing")

    grants: dict[str, frozenset[str]] = {}

    def resolve(name: str, path: tuple[str, ...]) -> frozenset[str]:
        if name in path:
            cycle = " -> ".join((*path[path.index(name) :], name))
            raise _fail(source, f"role {name}", f"inherits in a cycle: {cycle}")
        if name not in grants:
            acc = set(own[name])
            for parent in parents[name]:
                acc |= resolve(parent, (*path, name))
            grants[name] = frozenset(acc)
        return grants[name]

    for name in own:
        resolve(name, ())
    return {name: grants[name] for name in own}, tuple(assignable)
