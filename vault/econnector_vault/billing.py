"""What the reference vault bills: one fee per stored document, reported per quarter.

Pure values and decisions; the storage engine records the fee in the same
transaction as the document, and ``GET /v1/billing/activity`` reads it back as
a :class:`BillingActivity`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "CURRENCY",
    "REFERENCE_FEES",
    "BillingActivity",
    "fee_for",
    "parse_quarter",
    "quarter_of",
]

CURRENCY = "EUR"

# Reference values so the billing flow can be exercised end to end. They are
# NOT official tariffs of the national eHealth platform.
REFERENCE_FEES: Mapping[str, Decimal] = {
    "invoice": Decimal("0.30"),
    "prescription": Decimal("0.20"),
    "certificate": Decimal("0.20"),
    "sick-leave-certificate": Decimal("0.20"),
}

_QUARTER_RE = re.compile(r"([0-9]{4})Q([1-4])")


def fee_for(document_type: str) -> Decimal:
    """The reference fee for one stored document of ``document_type``."""
    return REFERENCE_FEES[document_type]


def quarter_of(moment: datetime) -> str:
    """The calendar quarter (UTC) that bills a fee recorded at ``moment``, e.g. ``2026Q4``."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}Q{(utc.month - 1) // 3 + 1}"


def parse_quarter(value: str | None) -> str | None:
    """``value`` when it is a quarter like ``2026Q4`` (year 2000-9999), else None."""
    if value is None:
        return None
    m = _QUARTER_RE.fullmatch(value)
    if m is None or int(m.group(1)) < 2000:
        return None
    return value


@dataclass(frozen=True)
class BillingActivity:
    """One provider's fee records in one quarter, oldest first, with their total."""

    quarter: str
    provider_code: str
    records: list[dict[str, Any]] = field(default_factory=list)
    total: str = "0.00"

    def as_json(self) -> dict[str, Any]:
        return {
            "quarter": self.quarter,
            "provider_code": self.provider_code,
            "records": self.records,
            "total": self.total,
            "currency": CURRENCY,
        }
