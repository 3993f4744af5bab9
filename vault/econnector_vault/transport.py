"""The reference vault in-process, as an httpx transport (the daemon's ``kind: local``).

The daemon then runs exactly the server's request path (routing, token binding,
multipart parsing, storage) without a socket. Imported only when a daemon is
configured with the local vault, so a daemon on a real vault never loads the
web server stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import httpx

from econnector_vault.app import create_app
from econnector_vault.store import VaultStore
from econnector_vault.trust import load_trust_roots

__all__ = ["LocalTransport"]


class LocalTransport(httpx.ASGITransport):
    """ASGI transport over a vault in ``data_dir``; closing it closes the store.

    ``token`` acts only for ``provider_codes``, exactly as a server's token file
    would bind it. ``trust_roots`` are PEM files, as the server's ``--trust-roots``
    (a bad file raises :class:`~econnector_vault.trust.TrustRootsError`, a
    ``ValueError`` with a one-line reason).
    """

    def __init__(
        self,
        data_dir: Path,
        token: str,
        provider_codes: Iterable[str],
        *,
        trust_roots: Sequence[Path] = (),
    ) -> None:
        roots = load_trust_roots(trust_roots)
        self._store = VaultStore(Path(data_dir), trust_roots=roots or None)
        super().__init__(app=create_app(self._store, {token: frozenset(provider_codes)}, None))

    async def aclose(self) -> None:
        await super().aclose()
        self._store.close()
