"""Authentication: a presented key to a :class:`Principal`, or a 401.

Keys are never kept in clear: the authenticator holds SHA-256 digests and looks
the presented key's digest up. Comparing digests rather than keys means the
lookup's timing tells an attacker nothing about any key; the master key is
compared with :func:`hmac.compare_digest` as well.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bastion.config import GatewayConfig
from bastion.errors import GatewayError
from bastion.governance.principal import Principal

MASTER = Principal(id="master", name="master", kind="master", role="admin")
MASTER_HASH_FILE = "master_key.sha256"
MASTER_HASH_ENV = "BASTION_MASTER_KEY_SHA256"  # set by `bastion serve` for its workers


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _unauthorized(message: str) -> GatewayError:
    return GatewayError(401, message, code="invalid_api_key", error_type="authentication_error")


class KeyDirectory(Protocol):
    """Virtual keys by digest (the governance cache): None when unknown, 401 when revoked/expired."""

    def find(self, digest: str) -> Principal | None: ...


class Authenticator:
    """Maps key digests to principals: the master key, static keys, then virtual keys."""

    def __init__(
        self,
        master_digest: str,
        static: dict[str, Principal],
        virtual: KeyDirectory | None = None,
    ) -> None:
        self._master_digest = master_digest
        self._static = static
        self._virtual = virtual

    def authenticate(self, key: str | None) -> Principal:
        if not key:
            raise _unauthorized(
                "Missing API key. Send it as 'Authorization: Bearer <key>' (or 'x-api-key: <key>')."
            )
        digest = key_digest(key)
        if hmac.compare_digest(digest, self._master_digest):
            return MASTER
        principal = self._static.get(digest)
        if principal is None and self._virtual is not None:
            principal = self._virtual.find(digest)
        if principal is None:
            raise _unauthorized("Invalid API key.")
        return principal

    @classmethod
    def from_config(
        cls, config: GatewayConfig, master_digest: str, virtual: KeyDirectory | None = None
    ) -> Authenticator:
        static: dict[str, Principal] = {}
        for entry in config.auth.keys:
            digest = entry.key_sha256 or key_digest(entry.key.get_secret_value())  # type: ignore[union-attr]
            static[digest] = Principal(
                id=f"static:{entry.name}", name=entry.name, kind="static", role=entry.role
            )
        return cls(master_digest, static, virtual)


@dataclass(frozen=True, slots=True)
class MasterKey:
    digest: str
    generated: str | None  # the clear key, only when it was generated just now (print it once)
    source: str  # "config", "environment", "stored", "generated"
    stored_at: Path | None = None


def resolve_master_key(
    config: GatewayConfig, data_dir: Path, env: dict[str, str] | None = None
) -> MasterKey:
    """The admin key: from the config, ``BASTION_MASTER_KEY``, or generated once.

    A generated key is printed once by the caller; only its digest is stored,
    in the data directory, so later starts accept the same key.
    """
    env = dict(os.environ) if env is None else env
    if config.auth.master_key is not None:
        return MasterKey(key_digest(config.auth.master_key.get_secret_value()), None, "config")
    if env.get("BASTION_MASTER_KEY"):
        if len(env["BASTION_MASTER_KEY"]) < 16:
            raise ValueError("BASTION_MASTER_KEY must be at least 16 characters long")
        return MasterKey(key_digest(env["BASTION_MASTER_KEY"]), None, "environment")
    path = data_dir / MASTER_HASH_FILE
    if path.exists():
        digest = path.read_text().split()[0].strip()
        return MasterKey(digest, None, "stored", path)
    key = "bst-master-" + secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"{key_digest(key)}  created {datetime.now(UTC).isoformat(timespec='seconds')}\n"
    )
    path.chmod(0o600)
    return MasterKey(key_digest(key), key, "generated", path)


def default_data_dir(config: GatewayConfig, env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    if config.server.data_dir:
        return Path(config.server.data_dir).expanduser()
    if env.get("BASTION_DATA_DIR"):
        return Path(env["BASTION_DATA_DIR"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bastion"
