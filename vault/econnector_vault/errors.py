"""The vault's refusals: one validation failure (:class:`FieldError`) and one
refusal with its HTTP status and stable problem code (:class:`StoreError`).

Shared by the storage engine, which raises them, and the app, which turns them
into RFC 9457 problem answers, so neither needs the other to say no.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FieldError", "StoreError"]


@dataclass(frozen=True)
class FieldError:
    """One validation failure; ``field`` is a dotted path such as ``patient.matricule``."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class StoreError(Exception):
    """A refusal with its HTTP status and stable problem ``code``.

    ``reason`` refines a code with a stable value of its own (the defect of a
    ``signature-invalid`` signature), so clients branch on it, never on ``detail``.

    Messages never echo submitted values: they end up in logs and error files
    on the practice side, and metadata carries the patient's matricule.
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        errors: Sequence[FieldError] = (),
        *,
        reason: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.reason = reason
