"""The reference vault: storage engine, API v1 app and server.

The project ships its own implementation of the documented vault API so the
whole chain (sign, deliver, bill) runs on one machine; the daemon's ``local``
vault kind embeds the very same app in-process.
"""

from econnector.vault.app import create_app
from econnector.vault.store import Receipt, StoreError, VaultStore

__all__ = ["Receipt", "StoreError", "VaultStore", "create_app"]
