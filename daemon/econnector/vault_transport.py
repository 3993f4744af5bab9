"""The one place that chooses how the daemon reaches its vault.

``kind: http`` (HTTPS, or plain HTTP on loopback) is httpx's own transport with
the configured CA bundle; ``kind: local`` is the reference vault in-process
through the ``local`` extra (``pip install 'econnector[local]'``), imported here
and nowhere else, so a daemon on a real vault never loads starlette, uvicorn or
python-multipart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import httpx

from .config import Config, ConfigError
from .vault_client import VaultClient

__all__ = ["LOCAL_TOKEN", "local_problem", "local_transport", "make_vault_client"]

# The internal token between the daemon and its embedded vault; never leaves the process.
LOCAL_TOKEN = "econnector-local-vault"
LOCAL_URL = "http://local-vault"


LOCAL_MISSING = ("'local' needs the embedded reference vault: install 'econnector[local]' "
                 "(make run does), or use kind 'http' with a vault url")


def local_problem() -> ConfigError | None:
    """Why ``kind: local`` cannot run in this installation, if it cannot (check-config)."""
    try:
        import econnector_vault.transport  # noqa: F401
    except ImportError:
        return ConfigError(LOCAL_MISSING, "vault.kind")
    return None


def local_transport(data_dir: Path, provider_codes: Iterable[str],
                    trust_roots: Sequence[Path] = ()) -> httpx.AsyncBaseTransport:
    """The reference vault app in-process over ``data_dir``, acting only for
    ``provider_codes`` and, with ``trust_roots``, refusing signatures that do not chain
    to them (as a vault started with ``--trust-roots``). Use with
    ``VaultClient(LOCAL_URL, LOCAL_TOKEN, transport=...)``."""
    try:
        from econnector_vault.database import SchemaTooNew
        from econnector_vault.transport import LocalTransport
    except ImportError:
        raise ConfigError(LOCAL_MISSING, "vault.kind") from None
    try:
        return LocalTransport(data_dir, LOCAL_TOKEN, provider_codes, trust_roots=trust_roots)
    except SchemaTooNew as e:  # a newer release's embedded vault: refused, left untouched
        raise ConfigError(str(e), "vault.data_dir") from None


def make_vault_client(cfg: Config) -> VaultClient:
    timeout = httpx.Timeout(connect=5.0, read=cfg.vault.timeout, write=cfg.vault.timeout, pool=5.0)
    if cfg.vault.kind == "local":
        cfg.vault.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The internal token acts only for the practice's own identities, like a server's.
        providers = [identity.provider_code for identity in cfg.identities]
        return VaultClient(LOCAL_URL, LOCAL_TOKEN,
                           # The embedded vault checks signatures like the real one
                           # (the thread race in its trust roots is fixed: vault
                           # trust.py, tests/test_trust_concurrency.py).
                           transport=local_transport(cfg.vault.data_dir, providers,
                                                     cfg.signing.trust_roots),
                           timeout=timeout)
    assert cfg.vault.url is not None
    return VaultClient(cfg.vault.url, cfg.vault.token(),
                       ca_bundle=str(cfg.vault.ca_bundle) if cfg.vault.ca_bundle else None,
                       timeout=timeout)
