"""Patients' digital status: whether the vault may hold their documents.

``green`` and ``blue`` patients receive documents; a ``red`` patient opted out,
and an upload for them is refused (``patient-opted-out``) unless it replays an
earlier delivery. Patients the vault does not list are ``green``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DIGITAL_STATUSES", "digital_status", "patient_statuses"]

DIGITAL_STATUSES = ("green", "blue", "red")


def patient_statuses(patients: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of ``patients`` (matricule to status); ValueError on an unknown status."""
    statuses = dict(patients or {})
    for status in statuses.values():
        if status not in DIGITAL_STATUSES:
            raise ValueError(f"unknown digital status {status!r}")
    return statuses


def digital_status(patients: Mapping[str, str], matricule: str) -> str:
    """The patient's digital status; patients the vault does not list are ``green``."""
    return patients.get(matricule, "green")
