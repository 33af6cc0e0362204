"""Keeping secrets out of what the engine stores (SPEC 1.6, invariant 9).

- An input a plan marks ``sensitive`` is sealed (AES-256-GCM) before it is stored; only a run
  unseals it, to hand it to its agents. Reads of the task show a redaction marker instead.
- Any other input, and everything an agent returns (outputs, claims, failure messages, text
  artifacts), passes the redaction policy: a secret becomes a marker with a short hash.
- A sensitive value an agent echoes back is caught too: a run's redactor also replaces the
  literal values of its task's sensitive inputs.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agentledger.core.errors import FailedPrecondition
from agentledger.security.redaction import DEFAULT_POLICY, SENSITIVE_KIND, RedactionPolicy, marker

SEALED = "$sealed"
MARKER = "$marker"
_INFO = b"agentledger engine sensitive inputs v1"
MIN_SECRET_CHARS = 4  # shorter literal values are not hunted for in outputs (too many false hits)


def _canonical(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and SEALED in value and MARKER in value


class InputSealer:
    """Seals and unseals sensitive input values with a key derived from a deployment secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the inputs key must have at least 16 bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, field: str, value: Any) -> dict[str, str]:
        plain = _canonical(value)
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, plain.encode(), field.encode())
        return {SEALED: base64.b64encode(sealed).decode(), MARKER: marker(SENSITIVE_KIND, plain)}

    def unseal(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in inputs.items():
            if not is_sealed(value):
                out[name] = value
                continue
            raw = base64.b64decode(value[SEALED])
            try:
                plain = self._aead.decrypt(raw[:12], raw[12:], name.encode())
            except InvalidTag:
                raise FailedPrecondition(
                    f"input {name!r} was sealed with another key: set the engine's inputs key "
                    "(AGENTLEDGER_ENGINE_INPUTS_KEY) back to the one it ran with, or resubmit"
                ) from None
            out[name] = orjson.loads(plain)
        return out


def public_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as anyone reading the task sees them: sealed values as their markers."""
    return {k: v[MARKER] if is_sealed(v) else v for k, v in inputs.items()}


def protect_inputs(
    inputs: Mapping[str, Any],
    sensitive: Iterable[str],
    sealer: InputSealer,
    policy: RedactionPolicy = DEFAULT_POLICY,
) -> dict[str, Any]:
    """Inputs as they are stored: sensitive fields sealed, the others redacted."""
    names = set(sensitive)
    return {
        k: sealer.seal(k, v) if k in names else policy.redact_value(v, field=k)
        for k, v in inputs.items()
    }


class RunRedactor:
    """What a run applies to everything its agents hand back before it is kept anywhere."""

    def __init__(
        self, secrets: Iterable[Any] = (), policy: RedactionPolicy = DEFAULT_POLICY
    ) -> None:
        self.policy = policy
        literal = {
            v if isinstance(v, str) else _canonical(v)
            for v in secrets
            if v is not None and not isinstance(v, bool)
        }
        # Longest first, so a value that contains another is replaced whole.
        self._literals = sorted(
            (v for v in literal if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True
        )

    @classmethod
    def for_inputs(
        cls, inputs: Mapping[str, Any], sensitive: Iterable[str], policy: RedactionPolicy
    ) -> RunRedactor:
        names = set(sensitive)
        return cls([v for k, v in inputs.items() if k in names], policy)

    def text(self, value: str) -> str:
        for secret in self._literals:
            if secret in value:
                value = value.replace(secret, marker(SENSITIVE_KIND, _canonical(secret)))
        return self.policy.redact_text(value)

    def value(self, value: Any) -> Any:
        if self._literals:
            value = self._strings(value)
        return self.policy.redact_value(value)

    def _strings(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value) if any(s in value for s in self._literals) else value
        if isinstance(value, dict):
            return {k: self._strings(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._strings(v) for v in value]
        return value

    def data(self, data: bytes) -> bytes:
        """A text artifact's bytes, redacted; binary content is kept as it is."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        redacted = self.text(text)
        return data if redacted == text else redacted.encode("utf-8")
