"""Patients' digital status: whether the vault may hold their documents.

``green`` and ``blue`` patients receive documents; a ``red`` patient opted out,
and an upload for them is refused (``patient-opted-out``) unless it replays an
earlier delivery. Patients the vault does not list are ``green``.

A status can change while the vault runs, as a real platform's does:
:class:`PatientDirectory` rereads the ``--patients`` file when it changes (what
an operator does), and the patient simulator sets one status (what a test or a
demo does). Handlers read it as a plain mapping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import structlog
import yaml

from econnector_vault.metadata import is_matricule

__all__ = [
    "DIGITAL_STATUSES",
    "PatientDirectory",
    "PatientsFileError",
    "digital_status",
    "parse_patients",
    "patient_statuses",
    "read_patients_file",
]

DIGITAL_STATUSES = ("green", "blue", "red")
RELOAD_CHECK_S = 1.0  # a stat of the patients file at most this often

log = structlog.get_logger("econnector_vault")


class PatientsFileError(ValueError):
    """The patients file cannot be used; the message is one line naming no patient."""


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


def parse_patients(data: Any, path: Path) -> dict[str, str]:
    """The patients file's YAML value as matricule to status (pure).

    Messages name the file, never a matricule: the vault's logs stay free of
    patient identifiers.
    """
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PatientsFileError(f"patients file {path} must be a mapping of matricule to status")
    patients: dict[str, str] = {}
    for key, status in data.items():
        # An unquoted 13-digit matricule parses as an int; accept it as written.
        matricule = str(key)
        if isinstance(key, bool) or not is_matricule(matricule):
            raise PatientsFileError(f"patients file {path}: a key is not a 13-digit matricule")
        if status not in DIGITAL_STATUSES:
            raise PatientsFileError(
                f"patients file {path}: status must be one of {', '.join(DIGITAL_STATUSES)}"
            )
        patients[matricule] = str(status)
    return patients


def read_patients_file(path: Path) -> dict[str, str]:
    """A YAML mapping of matricule to digital status; PatientsFileError with one line."""
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except FileNotFoundError:
        raise PatientsFileError(f"patients file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PatientsFileError(f"patients file {path} cannot be read: {reason}") from None
    return parse_patients(data, path)


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What tells a changed file (an editor's in-place write or an atomic replace)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class PatientDirectory(Mapping[str, str]):
    """The statuses the vault applies now: a mapping of matricule to status.

    With ``path``, the file is stat'ed at most once per :data:`RELOAD_CHECK_S`
    on a read, and reread when its mtime, size or inode changed; the new
    content replaces the whole table (changes made with :meth:`set` included).
    A file that became unreadable or invalid keeps the previous table and
    logs one line (without patient data): a vault half-way through an
    operator's edit must not start accepting red patients' documents.
    """

    def __init__(
        self,
        statuses: Mapping[str, str] | None = None,
        path: Path | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._mono = monotonic
        self._lock = threading.Lock()
        self._seen = _signature(path) if path is not None else None
        self._checked = monotonic()
        self._table = patient_statuses(statuses)

    @classmethod
    def from_file(
        cls, path: Path, *, monotonic: Callable[[], float] = time.monotonic
    ) -> PatientDirectory:
        """The statuses of the ``--patients`` file, followed from now on; PatientsFileError
        (one line) when it cannot be used at start."""
        seen = _signature(path)  # before reading: a change during the read is seen later
        directory = cls(read_patients_file(path), path, monotonic=monotonic)
        directory._seen = seen
        return directory

    def set(self, matricule: str, status: str) -> None:
        """Change one patient's status for this run (the patient simulator)."""
        if status not in DIGITAL_STATUSES:
            raise ValueError(f"unknown digital status {status!r}")
        with self._lock:
            self._table = {**self._table, matricule: status}

    def _current(self) -> dict[str, str]:
        if self._path is not None and self._mono() - self._checked >= RELOAD_CHECK_S:
            self._maybe_reload(self._path)
        return self._table

    def _maybe_reload(self, path: Path) -> None:
        with self._lock:
            now = self._mono()
            if now - self._checked < RELOAD_CHECK_S:
                return  # another thread just looked
            self._checked = now
            signature = _signature(path)
            if signature == self._seen:
                return
            self._seen = signature
            try:
                table = read_patients_file(path)
            except PatientsFileError as exc:
                log.warning("patients-file-not-reloaded", reason=str(exc))
                return
            self._table = table
            log.info("patients-file-reloaded", patients=len(table))

    def __getitem__(self, matricule: str) -> str:
        return self._current()[matricule]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())
