"""Query files: questions the practice software asks through the outbox.

(being written) ``outbox/<stem>.query.yaml`` (or ``.json``) with ``schema:
econnector.query/v1`` and ``query: patient-status`` is answered in
``inbox/<stem>.answer.json`` and ``.answer.txt``.
"""

from __future__ import annotations

from collections.abc import Callable

from . import safeopen
from .config import Config
from .patients import PatientStatuses


class QueryDesk:
    """Answers query files; called by each outbox scan with the query entries listed."""

    def __init__(self, cfg: Config, patients: PatientStatuses, *,
                 clock: Callable[[], float], mono: Callable[[], float]) -> None:
        self.cfg, self.patients, self.clock, self.mono = cfg, patients, clock, mono

    def pending(self) -> bool:
        """Queries seen and not answered yet (the scan calls :meth:`handle` even when
        the listing shows none, e.g. to retry after the vault was unreachable)."""
        return False

    async def handle(self, entries: list[safeopen.Entry], now_m: float) -> None:
        """Answer the settled query files among ``entries`` (one bad query never stops
        the others; blocking I/O runs on threads)."""
