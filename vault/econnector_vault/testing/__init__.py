"""Fault injection for the reference vault: a vault that misbehaves on demand (tests only).

``econnector-vault serve --enable-faults`` (or ``econnector vault serve
--enable-faults``) wraps the normal vault app in :class:`FaultInjector` and runs
uvicorn with :func:`fault_protocol_class`. Without the flag nothing here is
imported: the normal server path is unchanged.

- ``POST /v1/_faults`` appends a fault to a FIFO queue, ``GET /v1/_faults``
  lists the pending faults and how many were applied per kind,
  ``DELETE /v1/_faults`` clears the queue (same bearer tokens as the API).
- Only the **head** fault is armed: a request that matches its ``method`` and
  ``path`` filter consumes one unit of it (its ``count``); other requests pass
  untouched. When its count is used up the next fault becomes the head.
- Kinds: ``status`` (a problem answer, store untouched), ``stall`` (wait, then
  handle normally), ``reset`` (TCP RST before handling), ``drop-after-commit``
  (handle fully, then close without an answer) and ``slow`` (trickle the body).

:mod:`.specs` holds the fault specs and their queue (pure, no web server);
:mod:`.injector` the ASGI middleware and the uvicorn protocol that applies them.
The full reference, with curl examples, is docs/vault-api.md, "Fault injection".
"""

from econnector_vault.testing.injector import (
    TRANSPORT_EXTENSION,
    FaultInjector,
    fault_protocol_class,
)
from econnector_vault.testing.specs import (
    CONTROL_PATH,
    KINDS,
    Fault,
    FaultQueue,
    FaultSpecError,
    is_loopback_host,
    parse_fault,
)

__all__ = [
    "CONTROL_PATH",
    "KINDS",
    "TRANSPORT_EXTENSION",
    "Fault",
    "FaultInjector",
    "FaultQueue",
    "FaultSpecError",
    "fault_protocol_class",
    "is_loopback_host",
    "parse_fault",
]
