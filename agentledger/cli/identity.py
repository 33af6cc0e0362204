"""The identity the CLI's direct gRPC commands carry.

The CLI is the deployment's console: with the mesh key (``AGENTLEDGER_MESH_KEY`` or
``AGENTLEDGER_MESH_KEY_FILE``, or the ``mesh.key`` that ``agentledger up`` keeps in the data
folder) it signs itself as an admin named ``AGENTLEDGER_USER`` (default: your login name).
Whoever can read that key can act as anyone, like a kubeconfig: people who should have less use
the gateway with an API token instead.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from pathlib import Path

from agentledger.core.client import Identity
from agentledger.core.settings import DEFAULT_DATA_DIR, Env
from agentledger.security.identity import MeshSigner, Principal

KEY_FILE = "mesh.key"


def mesh_key(environ: Mapping[str, str] | None = None) -> bytes:
    env = Env(environ)
    if value := env.text("AGENTLEDGER_MESH_KEY", ""):
        return value.encode()
    path = env.text("AGENTLEDGER_MESH_KEY_FILE", "")
    candidate = (
        Path(path) if path else Path(env.text("AGENTLEDGER_DATA_DIR", DEFAULT_DATA_DIR)) / KEY_FILE
    )
    try:
        return candidate.read_bytes().strip()
    except FileNotFoundError:
        return b""


def cli_user(environ: Mapping[str, str] | None = None) -> str:
    env = Env(environ)
    return env.text("AGENTLEDGER_USER", "") or getpass.getuser()


def cli_identity(environ: Mapping[str, str] | None = None) -> Identity:
    """Signed admin credentials for the CLI's user; empty when no key is known (auth off)."""
    environ = os.environ if environ is None else environ
    key = mesh_key(environ)
    if not key:
        return ""
    return MeshSigner(key).credentials(Principal(cli_user(environ), "admin", via="cli"))
