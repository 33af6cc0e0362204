"""Signed mesh identities, identity-provider JWTs and the bearer authenticator: what they accept
and every forgery they must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agentledger.core.clock import ManualClock
from agentledger.core.errors import InvalidArgument, Unauthenticated
from agentledger.security.db import open_security_db
from agentledger.security.identity import (
    Authenticator,
    JwtVerifier,
    MeshSigner,
    MeshVerifier,
    Principal,
    current_principal,
    principal_scope,
)
from agentledger.security.rbac import Policy
from agentledger.security.settings import JwtSettings
from agentledger.security.tokens import TokenStore

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
POLICY = Policy.load()
ALICE = Principal("alice", "owner", tenant="acme", via="token", token_id="0123456789ab")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(obj: Any) -> str:
    return _b64(json.dumps(obj).encode())


def _hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = f"{_json(header)}.{_json(claims)}"
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def _claims(clock: ManualClock, **over: Any) -> dict[str, Any]:
    now = clock.now_ns() // 1_000_000_000
    claims = {
        "sub": "alice",
        "role": "owner",
        "tenant": "acme",
        "via": "token",
        "tid": "",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "iss": "agentledger",
        "aud": "agentledger-mesh",
        "jti": "j1",
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def verifier(clock: ManualClock) -> MeshVerifier:
    return MeshVerifier(KEY, clock=clock)


# ---------------------------------------------------------------- the mesh identity


def test_mint_and_verify_round_trip(clock: ManualClock, verifier: MeshVerifier) -> None:
    signer = MeshSigner(KEY, clock=clock)
    token = signer.mint(ALICE)
    assert verifier.verify(token) == ALICE
    claims = jwt.decode(
        token,
        KEY,
        algorithms=["HS256"],
        audience="agentledger-mesh",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["exp"] - claims["iat"] == 300
    assert {"sub", "role", "tenant", "via", "tid", "nbf", "iss", "jti"} <= set(claims)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_the_signer_reuses_a_token_until_80_percent_of_its_life(clock: ManualClock) -> None:
    signer = MeshSigner(KEY, clock=clock, ttl_s=100)
    first = signer.mint(ALICE)
    clock.advance(79)
    assert signer.mint(ALICE) == first
    assert signer.mint(Principal("bob", "viewer")) != first
    clock.advance(2)
    fresh = signer.mint(ALICE)
    assert fresh != first
    credentials = signer.credentials(ALICE)
    assert credentials() == f"Bearer {fresh}"
    clock.advance(81)
    assert credentials() != f"Bearer {fresh}"


def test_short_mesh_keys_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="at least 32"):
        MeshSigner(b"short")
    with pytest.raises(InvalidArgument, match="at least 32"):
        MeshVerifier(b"short")


def _refused(verifier: MeshVerifier, token: str, reason: str) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        verifier.verify(token)


def test_a_token_signed_with_another_key_is_refused(
    clock: ManualClock, verifier: MeshVerifier
) -> None:
    _refused(verifier, MeshSigner(OTHER_KEY, clock=clock).mint(ALICE), "bad signature")


def test_alg_none_is_refused(clock: ManualClock, verifier: MeshVerifier) -> None:
    claims = _claims(clock, role="admin")
    for alg in ("none", "None", "NONE"):
        unsigned = f"{_json({'alg': alg, 'typ': 'JWT'})}.{_json(claims)}."
        _refused(verifier, unsigned, "alg none refused")
    no_alg = f"{_json({'typ': 'JWT'})}.{_json(claims)}."
    _refused(verifier, no_alg, "alg none refused")


def test_other_algorithms_are_refused_even_with_the_right_key(
    clock: ManualClock, verifier: MeshVerifier
) -> None:
    token = jwt.encode(_claims(clock), KEY * 2, algorithm="HS512")
    _refused(verifier, token, "algorithm HS512 is not accepted; tokens are signed HS256")


def test_an_expired_token_is_refused(clock: ManualClock, verifier: MeshVerifier) -> None:
    token = MeshSigner(KEY, clock=clock, ttl_s=60).mint(ALICE)
    assert verifier.verify(token) == ALICE  # and now it is cached
    clock.advance(64)  # within the 5 s leeway
    assert verifier.verify(token) == ALICE
    clock.advance(2)
    _refused(verifier, token, "expired 6 s ago")
    _refused(MeshVerifier(KEY, clock=clock), token, "expired")


def test_a_token_not_valid_yet_is_refused(clock: ManualClock, verifier: MeshVerifier) -> None:
    now = clock.now_ns() // 1_000_000_000
    token = _hs256({"alg": "HS256"}, _claims(clock, nbf=now + 60), KEY)
    _refused(verifier, token, "not valid yet")
    token = _hs256({"alg": "HS256"}, _claims(clock, iat=now + 60), KEY)
    _refused(verifier, token, "issued in the future")
    clock.advance(60)
    assert verifier.verify(token).subject == "alice"


@pytest.mark.parametrize(
    ("claim", "value", "reason"),
    [
        ("aud", "someone-else", "wrong audience"),
        ("iss", "evil", "wrong issuer"),
        ("role", "root", "role 'root' is not a known role"),
        ("sub", "", "claim 'sub' is empty"),
        ("tenant", 7, "claim 'tenant' is not text"),
        ("exp", "tomorrow", "exp"),
    ],
)
def test_bad_claims_are_refused(
    clock: ManualClock, verifier: MeshVerifier, claim: str, value: Any, reason: str
) -> None:
    token = _hs256({"alg": "HS256"}, _claims(clock, **{claim: value}), KEY)
    _refused(verifier, token, reason)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "iss", "aud", "sub", "role"])
def test_missing_claims_are_refused(clock: ManualClock, verifier: MeshVerifier, claim: str) -> None:
    claims = _claims(clock)
    del claims[claim]
    _refused(verifier, _hs256({"alg": "HS256"}, claims, KEY), f"missing claim '{claim}'")


def test_a_tampered_payload_is_refused(clock: ManualClock, verifier: MeshVerifier) -> None:
    token = MeshSigner(KEY, clock=clock).mint(Principal("val", "viewer"))
    header, _, sig = token.split(".")
    forged = f"{header}.{_json(_claims(clock, sub='val', role='admin'))}.{sig}"
    _refused(verifier, forged, "bad signature")


@pytest.mark.parametrize("garbage", ["", "alice", "a.b.c", "Bearer x", "e30.e30.e30"])
def test_garbage_is_refused(verifier: MeshVerifier, garbage: str) -> None:
    _refused(verifier, garbage, "rejected")


def test_current_principal_is_scoped() -> None:
    assert current_principal() is None
    with principal_scope(ALICE):
        assert current_principal() == ALICE
        with principal_scope(None):
            assert current_principal() is None
        assert current_principal() == ALICE
    assert current_principal() is None


# ---------------------------------------------------------------- identity-provider JWTs

HMAC_SECRET = "s" * 32


def _settings(key: str, *algorithms: str, **over: Any) -> JwtSettings:
    fields: dict[str, Any] = {
        "key": key,
        "algorithms": algorithms or ("HS256",),
        "issuer": "https://idp.example",
        "audience": "agentledger",
        "role_claim": "agentledger_role",
        "tenant_claim": "org",
    }
    fields.update(over)
    return JwtSettings(**fields)


def _idp_claims(clock: ManualClock, **over: Any) -> dict[str, Any]:
    now = clock.now_ns() // 1_000_000_000
    claims = {
        "sub": "carol@example.com",
        "agentledger_role": "operator",
        "org": "acme",
        "iat": now,
        "exp": now + 600,
        "iss": "https://idp.example",
        "aud": ["agentledger", "other"],
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def test_an_hs256_idp_token_is_accepted(clock: ManualClock) -> None:
    v = JwtVerifier(_settings(HMAC_SECRET), POLICY, clock=clock)
    token = jwt.encode(_idp_claims(clock), HMAC_SECRET, algorithm="HS256")
    assert v.verify(token) == Principal("carol@example.com", "operator", "acme", via="jwt")


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"agentledger_role": "service"}, "names role 'service', which is not one of"),
        ({"agentledger_role": None}, "missing claim 'agentledger_role'"),
        ({"exp": None}, "missing claim 'exp'"),
        ({"sub": None}, "missing claim 'sub'"),
    ],
)
def test_bad_idp_tokens_are_refused(clock: ManualClock, over: dict[str, Any], reason: str) -> None:
    v = JwtVerifier(_settings(HMAC_SECRET), POLICY, clock=clock)
    token = jwt.encode(_idp_claims(clock, **over), HMAC_SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated, match=reason):
        v.verify(token)


def test_idp_token_times_use_the_configured_leeway(clock: ManualClock) -> None:
    settings = _settings(HMAC_SECRET, leeway_seconds=30.0)
    token = jwt.encode(_idp_claims(clock), HMAC_SECRET, algorithm="HS256")
    now = clock.now_ns() // 1_000_000_000
    later = jwt.encode(_idp_claims(clock, nbf=now + 120), HMAC_SECRET, algorithm="HS256")
    v = JwtVerifier(settings, POLICY, clock=clock)
    with pytest.raises(Unauthenticated, match="not valid yet"):
        v.verify(later)
    clock.advance(629)
    assert v.verify(token).subject == "carol@example.com"
    clock.advance(2)
    with pytest.raises(Unauthenticated, match="expired"):
        v.verify(token)


def test_idp_none_and_unlisted_algorithms_are_refused(clock: ManualClock) -> None:
    v = JwtVerifier(_settings(HMAC_SECRET), POLICY, clock=clock)
    unsigned = f"{_json({'alg': 'none'})}.{_json(_idp_claims(clock))}."
    with pytest.raises(Unauthenticated, match="alg none refused"):
        v.verify(unsigned)
    token = jwt.encode(_idp_claims(clock), HMAC_SECRET * 2, algorithm="HS512")
    with pytest.raises(Unauthenticated, match="algorithm HS512 is not accepted"):
        v.verify(token)


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def test_an_rs256_idp_token_is_accepted_and_other_keys_are_not(
    clock: ManualClock, rsa_keys: tuple[str, str]
) -> None:
    private_pem, public_pem = rsa_keys
    v = JwtVerifier(_settings(public_pem, "RS256"), POLICY, clock=clock)
    token = jwt.encode(_idp_claims(clock), private_pem, algorithm="RS256")
    assert v.verify(token).role == "operator"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_idp_claims(clock, agentledger_role="admin"), stranger, algorithm="RS256")
    with pytest.raises(Unauthenticated, match="bad signature"):
        v.verify(forged)


def test_algorithm_confusion_is_refused(clock: ManualClock, rsa_keys: tuple[str, str]) -> None:
    """An HS256 token "signed" with the public key (which anyone has) must not pass."""
    _, public_pem = rsa_keys
    v = JwtVerifier(_settings(public_pem, "RS256"), POLICY, clock=clock)
    claims = _idp_claims(clock, agentledger_role="admin")
    forged = _hs256({"alg": "HS256", "typ": "JWT"}, claims, public_pem.encode())
    with pytest.raises(Unauthenticated, match="algorithm HS256 is not accepted"):
        v.verify(forged)


def test_unsafe_jwt_settings_are_refused(rsa_keys: tuple[str, str]) -> None:
    _, public_pem = rsa_keys
    with pytest.raises(InvalidArgument, match="mix HMAC and public-key"):
        JwtVerifier(_settings(public_pem, "RS256", "HS256"), POLICY)
    with pytest.raises(InvalidArgument, match="'none' is refused"):
        JwtVerifier(_settings(HMAC_SECRET, "none"), POLICY)
    with pytest.raises(InvalidArgument, match="too short for HS256"):
        JwtVerifier(_settings("short"), POLICY)
    with pytest.raises(InvalidArgument, match="does not suit RS256"):
        JwtVerifier(_settings(HMAC_SECRET, "RS256"), POLICY)
    with pytest.raises(InvalidArgument, match="does not suit HS256"):
        JwtVerifier(_settings(public_pem, "HS256"), POLICY)
    with pytest.raises(InvalidArgument, match="'XS1' is not supported"):
        JwtVerifier(_settings(HMAC_SECRET, "XS1"), POLICY)


# ---------------------------------------------------------------- the gateway's authenticator


def test_the_authenticator_routes_tokens_and_jwts(clock: ManualClock, tmp_path: Path) -> None:
    engine = open_security_db(f"sqlite:///{tmp_path / 'security.db'}")
    try:
        tokens = TokenStore(engine, clock)
        _, api_token = tokens.create(name="ci-bot", role="operator", policy=POLICY)
        idp = JwtVerifier(_settings(HMAC_SECRET), POLICY, clock=clock)
        auth = Authenticator(tokens, idp)
        assert auth.authenticate(api_token).subject == "ci-bot"
        assert auth.authenticate(f"Bearer {api_token}").via == "token"
        idp_token = jwt.encode(_idp_claims(clock), HMAC_SECRET, algorithm="HS256")
        assert auth.authenticate(f"bearer {idp_token}").via == "jwt"
        with pytest.raises(Unauthenticated, match="no credential"):
            auth.authenticate("Bearer ")
        with pytest.raises(Unauthenticated, match="rejected"):
            auth.authenticate("alice")
        # A mesh identity is for the services, not for the gateway's front door.
        with pytest.raises(Unauthenticated, match=r"wrong issuer|wrong audience|bad signature"):
            auth.authenticate(MeshSigner(KEY, clock=clock).mint(ALICE))
        tokens_only = Authenticator(tokens, None)
        with pytest.raises(Unauthenticated, match="no identity provider is configured"):
            tokens_only.authenticate(idp_token)
        with pytest.raises(Unauthenticated, match="API tokens are not accepted"):
            Authenticator(None, idp).authenticate(api_token)
    finally:
        engine.dispose()
