"""Who is calling: the principal of the current call, the signed identity forwarded between the
mesh's processes, external identity-provider JWTs, and the gateway's bearer authenticator.

Every JWT check pins its algorithms, refuses ``alg: none`` before anything else, and checks the
issuer and audience in PyJWT; expiry, not-before and issued-at are checked here against the
injected clock (PyJWT reads the wall clock), so tests move time by hand. Nothing here imports
gRPC: the interceptor in ``agentledger.core.auth`` is a thin adapter over ``MeshVerifier``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import jwt

from agentledger.core.clock import Clock, SystemClock
from agentledger.core.errors import InvalidArgument, Unauthenticated
from agentledger.security.rbac import ROLES, Policy
from agentledger.security.rbac import SERVICE_ROLE as SERVICE_ROLE  # re-exported
from agentledger.security.settings import MIN_KEY_BYTES, JwtSettings

if TYPE_CHECKING:
    from agentledger.security.tokens import TokenStore

MESH_ISSUER = "agentledger"
MESH_AUDIENCE = "agentledger-mesh"
MESH_ALGORITHM = "HS256"
TOKEN_PREFIX = "alt_"
_NS = 1_000_000_000


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a person (via an API token or an identity provider's JWT) or
    one of the mesh's services (role ``service``)."""

    subject: str
    role: str
    tenant: str = ""
    via: str = ""  # how they authenticated first: "token", "jwt", "mesh", "auth-off", ...
    token_id: str = ""  # the API token used, when via is "token"


_CURRENT: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "agentledger_principal", default=None
)


def current_principal() -> Principal | None:
    """The caller of the RPC being served (set by the authentication interceptor)."""
    return _CURRENT.get()


@contextlib.contextmanager
def principal_scope(principal: Principal | None) -> Iterator[Principal | None]:
    """Makes ``principal`` the current one inside the block."""
    token = _CURRENT.set(principal)
    try:
        yield principal
    finally:
        _CURRENT.reset(token)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """A small thread-safe LRU whose entries lapse at their own deadline (clock nanoseconds)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, now_ns: int) -> V | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if now_ns >= hit[1]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return hit[0]

    def put(self, key: K, value: V, until_ns: int) -> None:
        with self._lock:
            self._entries[key] = (value, until_ns)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def discard_if(self, predicate: Callable[[V], bool]) -> None:
        with self._lock:
            for key in [k for k, (v, _) in self._entries.items() if predicate(v)]:
                del self._entries[key]


class MeshSigner:
    """Signs the identity a process forwards to the services it calls (HS256, mesh key)."""

    def __init__(
        self,
        key: bytes,
        *,
        clock: Clock | None = None,
        ttl_s: float = 300,
        issuer: str = MESH_ISSUER,
        audience: str = MESH_AUDIENCE,
    ) -> None:
        _check_mesh_key(key)
        if ttl_s < 10:
            raise InvalidArgument(f"mesh identity ttl {ttl_s} s is too short; use at least 10 s")
        self._key = key
        self._clock = clock or SystemClock()
        self._ttl_s = int(ttl_s)
        self._issuer = issuer
        self._audience = audience
        self._cache: ExpiringCache[Principal, str] = ExpiringCache(1024)

    def mint(self, principal: Principal) -> str:
        """A token for ``principal``; the same one is reused until 80% of its lifetime."""
        now_ns = self._clock.now_ns()
        cached = self._cache.get(principal, now_ns)
        if cached is not None:
            return cached
        now_s = now_ns // _NS
        claims = {
            "sub": principal.subject,
            "role": principal.role,
            "tenant": principal.tenant,
            "via": principal.via,
            "tid": principal.token_id,
            "iat": now_s,
            "nbf": now_s,
            "exp": now_s + self._ttl_s,
            "iss": self._issuer,
            "aud": self._audience,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm=MESH_ALGORITHM)
        self._cache.put(principal, token, now_ns + int(self._ttl_s * 0.8 * _NS))
        return token

    def credentials(self, principal: Principal) -> Callable[[], str]:
        """``"Bearer <token>"`` for ``principal``, fresh whenever called (for typed clients)."""
        return lambda: f"Bearer {self.mint(principal)}"


class MeshVerifier:
    """Checks a forwarded identity: HS256 with the mesh key, issuer, audience, times, role."""

    def __init__(
        self,
        key: bytes,
        *,
        clock: Clock | None = None,
        issuer: str = MESH_ISSUER,
        audience: str = MESH_AUDIENCE,
        leeway_s: float = 5,
        roles: Collection[str] = ROLES,
    ) -> None:
        _check_mesh_key(key)
        self._key = key
        self._clock = clock or SystemClock()
        self._issuer = issuer
        self._audience = audience
        self._leeway_ns = int(leeway_s * _NS)
        self._roles = frozenset(roles)
        self._cache: ExpiringCache[str, Principal] = ExpiringCache(4096)

    def verify(self, token: str) -> Principal:
        now_ns = self._clock.now_ns()
        cached = self._cache.get(token, now_ns)
        if cached is not None:
            return cached
        what = "mesh identity"
        claims = _decode(
            token,
            {MESH_ALGORITHM: self._key},
            audience=self._audience,
            issuer=self._issuer,
            require=["exp", "iat", "nbf", "iss", "aud", "sub", "role"],
            what=what,
        )
        exp_ns = _check_times(claims, now_ns, self._leeway_ns, what)
        role = claims["role"]
        if role not in self._roles:
            raise Unauthenticated(f"{what} rejected: role {role!r} is not a known role")
        principal = Principal(
            subject=_subject(claims, what),
            role=role,
            tenant=_text(claims, "tenant", what),
            via=_text(claims, "via", what),
            token_id=_text(claims, "tid", what),
        )
        self._cache.put(token, principal, exp_ns + self._leeway_ns)
        return principal


class JwtVerifier:
    """Checks a JWT from the configured identity provider (settings from ``JwtSettings``)."""

    def __init__(
        self, settings: JwtSettings, policy: Policy, *, clock: Clock | None = None
    ) -> None:
        self._settings = settings
        self._roles = frozenset(policy.assignable_roles)
        self._clock = clock or SystemClock()
        self._leeway_ns = int(settings.leeway_seconds * _NS)
        self._keys = _prepare_keys(settings)
        self._cache: ExpiringCache[str, Principal] = ExpiringCache(4096)

    def verify(self, token: str) -> Principal:
        now_ns = self._clock.now_ns()
        cached = self._cache.get(token, now_ns)
        if cached is not None:
            return cached
        s, what = self._settings, "identity provider token"
        claims = _decode(
            token,
            self._keys,
            audience=s.audience,
            issuer=s.issuer,
            require=["exp", "iss", "aud", "sub"],
            what=what,
        )
        exp_ns = _check_times(claims, now_ns, self._leeway_ns, what)
        role = claims.get(s.role_claim)
        if role is None:
            raise Unauthenticated(f"{what} rejected: missing claim {s.role_claim!r} (the role)")
        if role not in self._roles:
            raise Unauthenticated(
                f"{what} rejected: claim {s.role_claim!r} names role {role!r}, which is not one "
                f"of {', '.join(sorted(self._roles))}"
            )
        principal = Principal(
            subject=_subject(claims, what),
            role=role,
            tenant=_text(claims, s.tenant_claim, what),
            via="jwt",
        )
        self._cache.put(token, principal, exp_ns + self._leeway_ns)
        return principal


class Authenticator:
    """Turns the gateway's bearer credential into a principal: an API token (``alt_...``) or a
    JWT from the identity provider."""

    def __init__(self, tokens: TokenStore | None, jwt: JwtVerifier | None) -> None:
        self._tokens = tokens
        self._jwt = jwt

    def without_io(self, bearer: str) -> Principal | None:
        """The principal when it can be told without the database: a JWT (checked in memory),
        or an API token verified recently. None: call ``authenticate`` (off the event loop)."""
        credential = bearer.strip()
        if credential.startswith(TOKEN_PREFIX):
            return self._tokens.cached(credential) if self._tokens is not None else None
        return None if self._jwt is None else self._jwt.verify(credential)

    def authenticate(self, bearer: str) -> Principal:
        """``bearer`` is the credential, with or without its ``Bearer `` prefix."""
        credential = bearer.strip()
        scheme, _, rest = credential.partition(" ")
        if scheme.lower() == "bearer":
            credential = rest.strip()
        if not credential:
            raise Unauthenticated("no credential: send 'Authorization: Bearer <token>'")
        if credential.startswith(TOKEN_PREFIX):
            if self._tokens is None:
                raise Unauthenticated("API tokens are not accepted here")
            return self._tokens.verify(credential)
        if self._jwt is None:
            raise Unauthenticated(
                "this credential is not an API token (alt_...) and no identity provider is "
                "configured for JWTs: create a token with `agentledger token create`"
            )
        return self._jwt.verify(credential)


# ---------------------------------------------------------------- JWT checks


def _check_mesh_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise InvalidArgument(f"the mesh key is {len(key)} bytes; use at least {MIN_KEY_BYTES}")


def _prepare_keys(settings: JwtSettings) -> dict[str, Any]:
    """One parsed key per accepted algorithm; HMAC and public-key algorithms may not mix, since a
    public key used as an HMAC secret is the classic algorithm-confusion forgery."""
    algorithms = settings.algorithms
    if not algorithms or any(a.lower() == "none" for a in algorithms):
        raise InvalidArgument("JWT algorithms must be listed, and 'none' is refused")
    hmac = {a.startswith("HS") for a in algorithms}
    if len(hmac) > 1:
        raise InvalidArgument(
            f"JWT algorithms {', '.join(algorithms)} mix HMAC and public-key algorithms over one "
            "key; list one family"
        )
    keys: dict[str, Any] = {}
    for alg in algorithms:
        try:
            impl = jwt.get_algorithm_by_name(alg)
        except NotImplementedError:
            raise InvalidArgument(f"JWT algorithm {alg!r} is not supported") from None
        raw = settings.key.encode() if alg.startswith("HS") else settings.key
        try:
            keys[alg] = impl.prepare_key(raw)
        except (jwt.InvalidKeyError, ValueError, TypeError) as exc:
            raise InvalidArgument(f"the JWT key does not suit {alg}: {exc}") from None
        short = impl.check_key_length(keys[alg])
        if short:
            raise InvalidArgument(f"the JWT key is too short for {alg}: {short}")
    return keys


def _decode(
    token: str,
    keys: dict[str, Any],
    *,
    audience: str,
    issuer: str,
    require: list[str],
    what: str,
) -> dict[str, Any]:
    expected = ", ".join(keys)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthenticated(f"{what} rejected: not a well-formed JWT") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise Unauthenticated(f"{what} rejected: alg none refused; tokens are signed {expected}")
    if alg not in keys:
        raise Unauthenticated(
            f"{what} rejected: algorithm {alg} is not accepted; tokens are signed {expected}"
        )
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            keys[alg],
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": require,
            },
        )
    except jwt.InvalidSignatureError:
        raise Unauthenticated(f"{what} rejected: bad signature") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated(f"{what} rejected: wrong audience, expected {audience!r}") from None
    except jwt.InvalidIssuerError:
        raise Unauthenticated(f"{what} rejected: wrong issuer, expected {issuer!r}") from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated(f"{what} rejected: missing claim {exc.claim!r}") from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"{what} rejected: {exc}") from None
    return claims


def _check_times(claims: dict[str, Any], now_ns: int, leeway_ns: int, what: str) -> int:
    """Checks exp, nbf and iat against the clock; returns exp in nanoseconds."""
    exp_ns = _seconds(claims, "exp", what)
    if exp_ns is None:
        raise Unauthenticated(f"{what} rejected: missing claim 'exp'")
    if now_ns > exp_ns + leeway_ns:
        ago = (now_ns - exp_ns) // _NS
        raise Unauthenticated(f"{what} rejected: expired {ago} s ago; get a new one")
    nbf_ns = _seconds(claims, "nbf", what)
    if nbf_ns is not None and now_ns + leeway_ns < nbf_ns:
        ahead = (nbf_ns - now_ns) // _NS
        raise Unauthenticated(
            f"{what} rejected: not valid yet (nbf is {ahead} s ahead); check the clocks"
        )
    iat_ns = _seconds(claims, "iat", what)
    if iat_ns is not None and now_ns + leeway_ns < iat_ns:
        raise Unauthenticated(f"{what} rejected: issued in the future (iat); check the clocks")
    return exp_ns


def _seconds(claims: dict[str, Any], name: str, what: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unauthenticated(f"{what} rejected: claim {name!r} is not a number of seconds")
    return int(value * _NS)


def _subject(claims: dict[str, Any], what: str) -> str:
    subject = _text(claims, "sub", what)
    if not subject:
        raise Unauthenticated(f"{what} rejected: claim 'sub' is empty")
    return subject


def _text(claims: dict[str, Any], name: str, what: str) -> str:
    value = claims.get(name, "")
    if not isinstance(value, str):
        raise Unauthenticated(f"{what} rejected: claim {name!r} is not text")
    return value
