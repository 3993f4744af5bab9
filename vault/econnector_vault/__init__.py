"""The reference vault: the documented vault API v1, its storage engine and server.

The project ships its own implementation of the vault API so the whole chain
(sign, deliver, bill) runs on one machine; the daemon's ``local`` vault kind
embeds the very same app in-process (:mod:`econnector_vault.transport`). It is
its own distribution, ``econnector-vault``, and never imports the daemon: the
daemon installs no web server unless it asks for the ``local`` extra.

Layout, one concern per module:

- :mod:`.app` wires the routes (``create_app``); :mod:`.auth` (tokens bound to
  provider codes), :mod:`.upload` (``POST /v1/documents``), :mod:`.problems`
  (RFC 9457 answers), :mod:`.accesslog` (matricules masked);
- :mod:`.store` (``VaultStore``: files then rows, exactly once per key) over
  :mod:`.files` (private, durable files); the decisions it applies are pure:
  :mod:`.metadata` (schema, identifiers), :mod:`.signatures` (signature policy,
  with the direct check of :mod:`.sigcheck` before pyHanko), :mod:`.billing`
  (fees, quarters), :mod:`.patients` (digital status); :mod:`.errors` holds
  the refusals they share;
- :mod:`.server` (uvicorn, startup checks) with :mod:`.slowguard` (slow
  clients), :mod:`.cli` (the ``econnector-vault`` command), :mod:`.transport`
  (in-process for httpx);
- :mod:`.testing`: fault injection, for tests only (``--enable-faults``).
"""

__version__ = "0.1.0"

from econnector_vault.app import create_app
from econnector_vault.errors import StoreError
from econnector_vault.store import Receipt, VaultStore

__all__ = ["Receipt", "StoreError", "VaultStore", "create_app"]
