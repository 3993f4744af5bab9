"""The vault's credential files, watched while the daemon runs.

IT fixes a refused token or an untrusted vault certificate by replacing the
token file or the CA bundle; the daemon notices on its rescan (by mtime) and
uses the new one at once: the token is set on the client, and a new client is
built for a new CA bundle (a TLS context cannot be changed in place). The
vault gate then decides whether to probe at once (:meth:`.VaultGate.
credentials_changed`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import structlog

from .config import Config
from .errors import EconnectorError
from .vault_client import VaultClient

log = structlog.get_logger("econnector.vault_credentials")


class VaultCredentials:
    """The current vault client, and the token file and CA bundle it was made from."""

    def __init__(self, cfg: Config, client: VaultClient) -> None:
        self.cfg = cfg
        self.client = client
        # Builds a new vault client trusting the current CA bundle; None when the
        # vault is not reached over TLS.
        self.remake: Callable[[], VaultClient] | None = None
        self.retired: list[VaultClient] = []  # may still be in use: closed at shutdown
        self.token_mtime = self._token_mtime()
        self.ca_mtime = self._ca_mtime()

    def _ca_mtime(self) -> float | None:
        return _mtime(self.cfg.vault.ca_bundle if self.cfg.vault.kind == "http" else None)

    def _token_mtime(self) -> float | None:
        return _mtime(self.cfg.vault.token_file)

    def token_changed(self) -> bool:
        """IT replaced the vault token file: use it. True when a new token is set."""
        mtime = self._token_mtime()
        if mtime == self.token_mtime:
            return False
        self.token_mtime = mtime
        try:
            token = self.cfg.vault.token()
        except (OSError, KeyError):
            return False
        if not token:
            return False
        self.client.set_token(token)
        log.info("vault-token-reloaded")
        return True

    async def ca_bundle_changed(self) -> VaultClient | None:
        """IT replaced the vault's CA bundle file: a new client that trusts it (the
        current one from now on), or None when nothing changed or it is unusable."""
        mtime = await asyncio.to_thread(self._ca_mtime)
        if mtime == self.ca_mtime or self.remake is None:
            return None
        self.ca_mtime = mtime
        try:
            client = await asyncio.to_thread(self.remake)
        except EconnectorError as e:  # unreadable for now (half written?): next rescan
            self.ca_mtime = None
            log.warning("vault-ca-bundle-unusable", detail=e.message)
            return None
        # An upload may still use the old client: it is closed at shutdown.
        self.retired.append(self.client)
        self.client = client
        log.info("vault-ca-bundle-reloaded")
        return client

    async def close(self) -> None:
        for client in [*self.retired, self.client]:
            await client.aclose()


def _mtime(path: Path | None) -> float | None:
    """A watched file's mtime (token, CA bundle); None when absent or unreadable."""
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None
