"""The reference vault: storage engine, API v1 app and server.

The project ships its own implementation of the documented vault API so the
whole chain (sign, deliver, bill) runs on one machine; the daemon's ``local``
vault kind embeds the very same app in-process (:mod:`econnector_vault.transport`).
It is its own distribution, ``econnector-vault``: the daemon installs no web
server unless it asks for the ``local`` extra.
"""

__version__ = "0.1.0"

from econnector_vault.app import create_app
from econnector_vault.store import Receipt, StoreError, VaultStore

__all__ = ["Receipt", "StoreError", "VaultStore", "create_app"]
