"""The privacy check over the end-to-end tier: no daemon log line holds patient data.

While the tests run, the helpers that start processes (:func:`.daemon.write_config`,
:func:`.daemon.running_daemon`, :func:`.vault.running_vault`) record the log files
and stderr captures they set up, and :func:`.daemon.drop`, :func:`.daemon.sidecar`
and :func:`.daemon.unique_matricule` record the sensitive values the tests used
(matricules, first and last names, the stems dropped). Both go to the session
folder named by :data:`ENV` (set by the root ``conftest.py`` before the xdist workers
start, so every worker writes there: one file per process, appended line by line).
At the end of the session the controller calls :func:`scan` and fails the run on
any hit. Only those logs are read: a test that writes a bad matricule into a sidecar,
a status file or its own folders trips nothing.

What counts as a hit in a line:

* any 13-digit run that passes the matricule check (valid without a date bound),
  whoever wrote it, and any recorded 13-digit value (the privacy filter masks every
  13-digit run, valid or not);
* a recorded first or last name of 4 characters or more, as a whole word, case
  kept ("Anne" is a leak, "anna" the login and "Dr 90812100" are not);
* a recorded stem as a file name (``stem.pdf``, ``stem.yaml``, ``stem.status.json``);
  a stem of 10 characters or more anywhere as a word. Short stems
  ("red", "held", "a") are also words the logs use for other things, so only their
  file-name forms count.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from econnector import matricule

ENV = "ECONNECTOR_TEST_LOG_DIR"
KINDS = ("matricule", "name", "stem")
MIN_NAME = 4
MIN_BARE_STEM = 10
_DIGITS = re.compile(r"(?<![0-9])[0-9]{13}(?![0-9])")


def session_dir(folder: Path | None = None) -> Path | None:
    """``folder``, or the session folder when the check is on (None: off)."""
    if folder is not None:
        return folder
    value = os.environ.get(ENV)
    return Path(value) if value else None


def _append(folder: Path | None, name: str, lines: Iterable[str]) -> None:
    target = session_dir(folder)
    if target is None:
        return
    text = "".join(line + "\n" for line in lines)
    if not text:
        return
    # One file per process, O_APPEND: concurrent writers in one process never tear a line.
    fd = os.open(target / f"{name}-{os.getpid()}.txt",
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def record_log(path: Path, folder: Path | None = None) -> None:
    """A log file (rotated siblings ``path.1``... included) or a stderr capture to scan."""
    _append(folder, "logs", [str(Path(path).absolute())])


def record_value(kind: str, value: object, folder: Path | None = None) -> None:
    """A sensitive value a test used; values the scan cannot look for are ignored."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if isinstance(value, str) and value.strip():
        _append(folder, "values", [json.dumps([kind, value])])


def record_sidecar(meta: object, stem: str | None = None, folder: Path | None = None) -> None:
    """The patient's matricule and names in a sidecar (a dict, or YAML/JSON text) and
    the stem it was dropped under."""
    if stem is not None:
        record_value("stem", stem, folder)
    if isinstance(meta, bytes | str):
        import yaml

        try:
            meta = yaml.safe_load(meta)
        except (yaml.YAMLError, UnicodeDecodeError, ValueError):
            return
    patient = meta.get("patient") if isinstance(meta, dict) else None
    if not isinstance(patient, dict):
        return
    record_value("matricule", patient.get("matricule"), folder)
    for key in ("first_name", "last_name"):
        record_value("name", patient.get(key), folder)


# -- the scan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    file: Path
    line: int
    kind: str
    masked: str  # the value, masked: the report must not leak it either

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind} {self.masked}"


def masked(kind: str, value: str) -> str:
    if kind == "matricule":
        return matricule.mask(value)
    return value[:1] + "*" * (len(value) - 1) if len(value) > 1 else "*"


def _read_lines(folder: Path, name: str) -> list[str]:
    out: list[str] = []
    for p in sorted(folder.glob(f"{name}-*.txt")):
        out += p.read_text("utf-8", errors="replace").splitlines()
    return out


def recorded_values(folder: Path) -> dict[str, set[str]]:
    values: dict[str, set[str]] = {k: set() for k in KINDS}
    for line in _read_lines(folder, "values"):
        try:
            kind, value = json.loads(line)
        except (ValueError, TypeError):
            continue
        if kind in values and isinstance(value, str):
            values[kind].add(value)
    return values


def log_files(folder: Path) -> list[Path]:
    """Every recorded log that exists, with its rotated siblings (``x.1`` ...)."""
    seen: dict[Path, None] = {}
    for line in _read_lines(folder, "logs"):
        base = Path(line)
        if not base.parent.is_dir():
            continue  # the test removed its folder
        rotated = [p for p in base.parent.glob(glob.escape(base.name) + ".*")
                   if p.name[len(base.name) + 1:].isdigit()]
        for p in [base, *sorted(rotated)]:
            if p.is_file():
                seen[p] = None
    return list(seen)


class _Matcher:
    """The recorded values as sets, looked up token by token: thousands of stems in
    one regex alternation would be tried at every position of every line."""

    def __init__(self, values: dict[str, set[str]]) -> None:
        self.matricules = {v for v in values["matricule"] if re.fullmatch(r"[0-9]{13}", v)}
        self.names = {w for v in values["name"] for w in _WORDS.findall(v) if len(w) >= MIN_NAME}
        self.stems = {v for v in values["stem"] if v}
        self.stem_lengths = sorted({len(v) for v in self.stems})
        long = {v for v in self.stems if len(v) >= MIN_BARE_STEM}
        self.long_plain = {v for v in long if _PLAIN.fullmatch(v)}
        odd = sorted(long - self.long_plain, key=len, reverse=True)
        self.long_odd = (re.compile("|".join(rf"(?<![\w.-]){re.escape(v)}(?![\w-])"
                                             for v in odd)) if odd else None)

    def hits(self, line: str) -> Iterator[tuple[str, str]]:
        for m in _DIGITS.finditer(line):
            if matricule.is_valid(m.group()) or m.group() in self.matricules:
                yield "matricule", m.group()
        if self.names:
            for w in _WORDS.findall(line):
                if w in self.names:
                    yield "name", w
        if not self.stems:
            return
        for m in _SUFFIX.finditer(line):  # stem.pdf, stem.yaml, stem.status.json ...
            for n in self.stem_lengths:
                start = m.start() - n
                if start < 0:
                    break
                if line[start:m.start()] in self.stems and (
                        start == 0 or not _STEM_BEFORE.match(line[start - 1])):
                    yield "stem", line[start:m.end()]
        for m in _PLAIN_TOKEN.finditer(line):
            if m.group() in self.long_plain:
                yield "stem", m.group()
        if self.long_odd is not None:
            for m in self.long_odd.finditer(line):
                yield "stem", m.group()


_WORDS = re.compile(r"\w+")
_SUFFIX = re.compile(r"\.(?:pdf|ya?ml|json|part|tmp|status|receipt|error|sidecar)\b",
                     re.IGNORECASE)
_STEM_BEFORE = re.compile(r"[\w.-]")
_PLAIN = re.compile(r"[\w-]+")
_PLAIN_TOKEN = re.compile(r"(?<![\w.-])[\w-]+(?![\w-])")


def scan_lines(lines: Iterable[str], values: dict[str, set[str]],
               file: Path = Path("-")) -> Iterator[Hit]:
    matcher = _Matcher(values)
    for n, line in enumerate(lines, 1):
        for kind, text in matcher.hits(line):
            yield Hit(file, n, kind, masked(kind, text))


def scan(folder: Path) -> tuple[list[Hit], int]:
    """The hits in every recorded log, and how many files were read."""
    values = recorded_values(folder)
    hits: list[Hit] = []
    files = log_files(folder)
    for p in files:
        with p.open(encoding="utf-8", errors="replace") as f:
            hits += scan_lines(f, values, p)
    return hits, len(files)


def report(hits: list[Hit], limit: int = 50) -> list[str]:
    lines = [f"privacy check: {len(hits)} patient value(s) in daemon logs (masked here):"]
    lines += [f"  {h}" for h in hits[:limit]]
    if len(hits) > limit:
        lines.append(f"  ... and {len(hits) - limit} more")
    return lines
