"""``econnector doctor``: is this installation healthy, one verdict per check.

Everything ``check-config`` checks (the same functions: config.check_usable,
identities.check_identity, signcheck.check_signing, cli.vault_problems), plus what only
shows on the running machine: the daemon's lock and heartbeat, the clock, free disk,
the folders' file systems, the inotify limits, the secret files' modes and the days
left on each signing certificate.

Each check is a :class:`Check` (name, status, text key, parameters); the texts are in
messages/doctor_command.py. The decisions (``evaluate_*``) are pure, so the thresholds
are tested without the machine; the ``probe_*`` and ``check_*`` functions do the I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config, Identity
    from .signer import SignerInfo

OK, WARN, FAIL = "ok", "warn", "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}

MIB = 1024 * 1024
GIB = 1024 * MIB
DISK_FAIL_BYTES = 100 * MIB
DISK_WARN_BYTES = 1 * GIB
DISK_WARN_FRACTION = 0.05
SKEW_WARN_S = 60.0
SKEW_FAIL_S = 300.0
STALE_INTERVALS = 3  # a heartbeat older than this many intervals: the daemon is stuck
INOTIFY_MIN_WATCHES = 8192
INOTIFY_MIN_INSTANCES = 16
CERT_WARN_DAYS = 30
HEARTBEAT_SCHEMA = "econnector.heartbeat/v1"
PROBE_TIMEOUT = 5.0  # seconds for a clock tool or the vault's Date

# Where the daemon moves files between folders with fsio.move: (from, to, which move).
# On one file system that is an atomic rename; across two, a copy then a delete.
RENAMES: tuple[tuple[str, str, str], ...] = (
    ("outbox", "archive", "delivered originals"),
    ("outbox", "failed", "refused originals"),
    ("work", "archive", "signed documents"),
)
FOLDER_NAMES = ("outbox", "inbox", "archive", "failed", "work")


@dataclass(frozen=True)
class Check:
    """One line of the verdict. ``key`` names the text in messages/doctor_command.py;
    several keys joined by ``+`` are rendered one after the other."""

    name: str
    status: str
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


def worst(*statuses: str) -> str:
    return max(statuses, key=_RANK.__getitem__, default=OK)


def exit_code(checks: Sequence[Check]) -> int:
    """0 all ok, 1 warnings only, 2 any failure."""
    return _RANK[worst(*(c.status for c in checks))]


# -- pure decisions ---------------------------------------------------------------------


def evaluate_disk(free: int, total: int) -> tuple[str, str]:
    """Below 100 MiB the daemon pauses soon (fail); below 1 GiB or 5 % it will (warn)."""
    if free < DISK_FAIL_BYTES:
        return FAIL, "disk-full"
    if free < DISK_WARN_BYTES or (total > 0 and free < DISK_WARN_FRACTION * total):
        return WARN, "disk-low"
    return OK, "disk-ok"


def evaluate_skew(seconds: float) -> tuple[str, str]:
    """The local clock against the vault's: signatures, receipts and time stamps are
    compared by people and by the vault."""
    off = abs(seconds)
    if off > SKEW_FAIL_S:
        return FAIL, "skew-fail"
    if off > SKEW_WARN_S:
        return WARN, "skew-warn"
    return OK, "skew-ok"


def evaluate_sync(state: str) -> str:
    """``synced``, ``not-synced`` or ``unknown`` (no tool answered): the last two warn
    (the distance to the vault's clock decides the failure)."""
    return OK if state == "synced" else WARN


def parse_timedatectl(output: str) -> str:
    value = output.strip().lower()
    return "synced" if value == "yes" else "not-synced" if value == "no" else "unknown"


def parse_chronyc(output: str) -> str:
    """``chronyc tracking``: "Leap status : Normal" when synchronised, "Not synchronised"
    otherwise."""
    for line in output.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "leap status":
            value = value.strip().lower()
            return "not-synced" if "not synchronised" in value else "synced"
    return "unknown"


def parse_w32tm(output: str) -> str:
    """``w32tm /query /status``: a leap indicator 3 (not synchronised) or the local CMOS
    clock or a free-running clock as the source mean not synchronised."""
    lines = {k.strip().lower(): v.strip().lower() for k, _, v in
             (line.partition(":") for line in output.splitlines()) if v}
    leap, source = lines.get("leap indicator", ""), lines.get("source", "")
    if not leap and not source:
        return "unknown"
    if leap.startswith("3") or "local cmos" in source or "free-running" in source:
        return "not-synced"
    return "synced"


def parse_time(text: object) -> float | None:
    """An ISO 8601 UTC instant (``...Z``) as epoch seconds, or None."""
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def evaluate_heartbeat(doc: Mapping[str, Any] | None, now: float
                       ) -> tuple[str, str, dict[str, Any]]:
    """The running daemon's heartbeat: missing, unreadable or older than three intervals
    is a failure (the daemon is stuck); ``ok: false`` or an unhealthy watcher too; a
    vault the daemon cannot reach is a warning (the vault check says why)."""
    if doc is None:
        return FAIL, "heartbeat-missing", {}
    interval = doc.get("interval_s")
    updated = parse_time(doc.get("updated_at"))
    if (doc.get("schema") != HEARTBEAT_SCHEMA or updated is None
            or not isinstance(interval, int | float) or isinstance(interval, bool)
            or interval <= 0):
        return FAIL, "heartbeat-bad", {}
    age = max(0.0, now - updated)
    params: dict[str, Any] = {"age": _num(age), "interval": _num(float(interval))}
    if age > STALE_INTERVALS * interval:
        return FAIL, "heartbeat-stale", params
    if doc.get("watcher_healthy") is False:
        return FAIL, "heartbeat-watcher", params
    if doc.get("ok") is False and not _vault_only(doc):
        return FAIL, "heartbeat-not-ok", params
    vault = doc.get("vault")
    if isinstance(vault, dict) and vault.get("reachable") is False:
        return WARN, "heartbeat-vault", {**params, "state": str(vault.get("state", "?"))}
    return OK, "heartbeat-ok", params


def _vault_only(doc: Mapping[str, Any]) -> bool:
    """Is an unreachable vault the heartbeat's only reason for ``ok: false``?"""
    vault = doc.get("vault")
    return (isinstance(vault, dict) and vault.get("reachable") is False
            and doc.get("watcher_healthy") is not False)


def evaluate_inotify(watches: int, instances: int) -> tuple[str, str]:
    if watches < INOTIFY_MIN_WATCHES or instances < INOTIFY_MIN_INSTANCES:
        return WARN, "inotify-low"
    return OK, "inotify-ok"


def evaluate_secret_mode(mode: int) -> tuple[str, str]:
    """The daemon's own rule (hardening.EXPOSED_BITS): any permission for others or
    group write fails; 0600, 0400, 0640 and 0440 (a group, as docs/operations.md says)
    pass."""
    from .hardening import EXPOSED_BITS

    return (FAIL, "secret-exposed") if mode & EXPOSED_BITS else (OK, "secret-ok")


def evaluate_cert_days(days: float) -> tuple[str, str]:
    if days < 0:
        return FAIL, "cert-expired"
    if days < CERT_WARN_DAYS:
        return WARN, "cert-soon"
    return OK, "cert-days"


def evaluate_filesystems(devices: Mapping[str, int]) -> list[Check]:
    """One warning per move between folders on different file systems (fsio.move then
    copies and deletes: slower, and a crash in between leaves the file in both); one ok
    line when every move is a rename. Folders whose device is unknown are left out."""
    out = [Check("filesystems", WARN, "fs-split", {"a": a, "b": b, "what": what})
           for a, b, what in RENAMES
           if a in devices and b in devices and devices[a] != devices[b]]
    return out or [Check("filesystems", OK, "fs-same", {})]


def _num(x: float) -> str:
    return f"{x:.1f}" if abs(x) < 10 else f"{x:.0f}"


def _size(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


# -- probes (I/O) -------------------------------------------------------------------------


def _run(cmd: list[str]) -> str | None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                           check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


def probe_sync() -> tuple[str, str]:
    """(state, tool): Windows asks w32tm; Linux timedatectl, else chronyc."""
    if sys.platform == "win32":  # pragma: no cover - not run here
        out = _run(["w32tm", "/query", "/status"])
        return (parse_w32tm(out) if out is not None else "unknown"), "w32tm"
    if shutil.which("timedatectl"):
        out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
        if out is not None and (state := parse_timedatectl(out)) != "unknown":
            return state, "timedatectl"
    if shutil.which("chronyc"):
        out = _run(["chronyc", "tracking"])
        if out is not None and (state := parse_chronyc(out)) != "unknown":
            return state, "chrony"
    return "unknown", "-"


def probe_vault_skew(cfg: Config) -> float | None:
    """Vault clock minus ours, in seconds, from the ``Date`` header of ``/v1/health``
    (compared with the middle of the request); None when it does not answer with one."""
    import email.utils
    import ssl

    import httpx

    assert cfg.vault.url is not None
    verify: ssl.SSLContext | bool = True
    try:
        if cfg.vault.ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(cfg.vault.ca_bundle))
        start = time.time()
        r = httpx.get(cfg.vault.url.rstrip("/") + "/v1/health", verify=verify,
                      timeout=PROBE_TIMEOUT, follow_redirects=False)
        end = time.time()
        date = email.utils.parsedate_to_datetime(r.headers["date"])
    except (httpx.HTTPError, OSError, ssl.SSLError, KeyError, TypeError, ValueError):
        return None
    return date.timestamp() - (start + end) / 2


def heartbeat_path(cfg: Config) -> Path:
    name = (f"_econnector.{cfg.node.id}.json" if cfg.node.shared_outbox
            else "_econnector.json")
    return cfg.folders.inbox / name


def read_heartbeat(path: Path) -> dict[str, Any] | None:
    """The heartbeat document; {} when unreadable, None when absent."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


# -- the checks ---------------------------------------------------------------------------


def check_config(cfg: Config, now: dt.datetime, offline: bool) -> list[Check]:
    """What ``check-config`` says, as checks: its problems fail, its warnings warn,
    its lines are ok. Exposed secret files are left to :func:`check_secrets` (said
    once, with the TSA's password file too)."""
    from . import config
    from .cli import vault_problems
    from .signcheck import check_signing
    from .vault_transport import local_problem

    out: list[Check] = []
    problems = [p for p in config.check_usable(cfg)
                if not p.startswith("secret-file-exposed:")]
    out += [Check("config", FAIL, "detail", {"detail": p}) for p in problems]
    if not problems:
        out.append(Check("config", OK, "config-ok", {"path": str(cfg.path)}))
    judged: set[str] = set()
    for ident in cfg.identities:
        if (ident.pkcs12 is not None and not ident.pkcs12.is_file()) or (
                ident.pkcs11 is not None and not ident.pkcs11.module.is_file()):
            continue  # said by check_usable
        check = check_identity(ident, now)
        out.append(check)
        if check.status == FAIL:
            judged.add(ident.provider_code)
    lines, sig_problems, sig_warnings = check_signing(cfg, now, offline=offline, skip=judged)
    out += [Check("signing", OK, "detail", {"detail": line.removeprefix("signing: ")})
            for line in lines]
    out += [Check("signing", FAIL, "detail", {"detail": p}) for p in sig_problems]
    out += [Check("signing", WARN, "detail", {"detail": w}) for w in sig_warnings]
    if cfg.vault.kind == "local":
        missing = local_problem()
        out.append(Check("vault", FAIL, "detail", {"detail": str(missing)}) if missing
                   else Check("vault", OK, "vault-local", {}))
    elif offline:
        out.append(Check("vault", OK, "vault-offline", {"url": cfg.vault.url}))
    elif any(p.startswith("vault") for p in problems):
        pass  # the token or CA bundle is missing: said above, nothing to ask with
    else:
        found = vault_problems(cfg)
        out += [Check("vault", FAIL, "detail", {"detail": p}) for p in found]
        if not found:
            out.append(Check("vault", OK, "vault-ok", {"url": cfg.vault.url}))
    return out


def _certificate(ident: Identity) -> SignerInfo | None:
    """The identity's certificate, read as the daemon reads it; None when it cannot be
    read now (a manual .p12 waits for the PIN; a locked key is said by check_identity)."""
    from .identities import Opened, open_identity

    if ident.manual:
        if ident.pkcs11 is None:
            return None
        from . import tokens

        return tokens.read_certificate(ident)
    opened = open_identity(ident)
    return opened.info if isinstance(opened, Opened) else None


def check_identity(ident: Identity, now: dt.datetime) -> Check:
    """check-config's verdict on the identity, with the days its certificate has left."""
    from .identities import check_identity as verdict
    from .signer import days_left

    line, problem, warning = verdict(ident, now)
    who = f"{ident.provider_code} ({ident.name})"
    info = _certificate(ident) if not problem or "certificate-expired" in problem else None
    if info is not None:
        days = days_left(info, now)
        status, key = evaluate_cert_days(days)
        if problem is None or status == FAIL:
            return Check("certificate", worst(status, WARN if warning else OK), key, {
                "who": who, "days": max(0, math.ceil(days)), "until": info.not_after[:10]})
    if problem:
        return Check("identity", FAIL, "detail", {"detail": problem})
    if warning:
        return Check("identity", WARN, "detail", {"detail": warning})
    return Check("identity", OK, "detail", {"detail": line})


def check_daemon(cfg: Config, now: float) -> list[Check]:
    """Its lock (a warning when none holds it: IT may run doctor before the service),
    then, when it runs, its heartbeat."""
    from . import health
    from .instancelock import LOCK_NAME, holder

    pid = holder(cfg.folders.work)
    if pid is None:
        return [Check("daemon", WARN, "daemon-not-running",
                      {"lock": str(cfg.folders.work / LOCK_NAME)}),
                Check("heartbeat", OK, "heartbeat-skipped", {})]
    started = health.read(cfg.folders.work).get("started_at") or "?"
    out = [Check("daemon", OK, "daemon-running", {"pid": pid or "?", "since": started})]
    path = heartbeat_path(cfg)
    if not cfg.heartbeat.enabled:
        return [*out, Check("heartbeat", OK, "heartbeat-disabled", {})]
    status, key, params = evaluate_heartbeat(read_heartbeat(path), now)
    return [*out, Check("heartbeat", status, key, {**params, "path": str(path)})]


def check_clock(cfg: Config, offline: bool, vault_answers: bool = True) -> Check:
    """Synchronised, and how far from the vault's clock (asked only when the vault
    check found it answering: a vault that is down would cost another timeout)."""
    state, tool = probe_sync()
    keys = ["clock-" + state]
    status = evaluate_sync(state)
    params: dict[str, Any] = {"tool": tool}
    if cfg.vault.kind != "http":
        keys.append("skew-skipped")
    elif offline:
        keys.append("skew-offline")
    elif not vault_answers or (skew := probe_vault_skew(cfg)) is None:
        keys.append("skew-unknown")
    else:
        skew_status, skew_key = evaluate_skew(skew)
        keys.append(skew_key)
        status = worst(status, skew_status)
        params["skew"] = _num(abs(skew))
    return Check("clock", status, "+".join(keys), params)


def check_disk(cfg: Config) -> list[Check]:
    out = []
    for name in FOLDER_NAMES:
        path: Path = getattr(cfg.folders, name)
        try:
            usage = shutil.disk_usage(path)
        except OSError:
            continue  # a missing folder is said by check_usable
        status, key = evaluate_disk(usage.free, usage.total)
        pct = 100.0 * usage.free / usage.total if usage.total else 0.0
        out.append(Check("disk", status, key, {"folder": name, "path": str(path),
                                               "free": _size(usage.free),
                                               "percent": f"{pct:.0f}"}))
    return out


def check_filesystems(cfg: Config) -> list[Check]:
    devices: dict[str, int] = {}
    for name in FOLDER_NAMES:
        try:
            devices[name] = os.stat(getattr(cfg.folders, name)).st_dev
        except OSError:
            continue
    return evaluate_filesystems(devices)


def check_inotify(proc: Path = Path("/proc/sys/fs/inotify")) -> Check:
    if not sys.platform.startswith("linux"):
        return Check("inotify", OK, "inotify-skipped", {})
    try:
        watches = int((proc / "max_user_watches").read_text().strip())
        instances = int((proc / "max_user_instances").read_text().strip())
    except (OSError, ValueError):
        return Check("inotify", WARN, "inotify-unknown", {"path": str(proc)})
    status, key = evaluate_inotify(watches, instances)
    return Check("inotify", status, key, {"watches": watches, "instances": instances})


def secret_files(cfg: Config) -> list[tuple[str, Path]]:
    """(config key, path) of every secret kept in a file: the identities' keys and
    passphrases, the vault token, the TSA password."""
    out: list[tuple[str, Path]] = []
    for i, ident in enumerate(cfg.identities):
        if ident.pkcs12 is not None:
            out.append((f"identities[{i}].pkcs12", ident.pkcs12))
        if ident.passphrase_file is not None:
            out.append((f"identities[{i}].passphrase_file", ident.passphrase_file))
    if cfg.vault.kind == "http" and cfg.vault.token_file is not None:
        out.append(("vault.token_file", cfg.vault.token_file))
    tsa = cfg.signing.tsa
    if tsa is not None and tsa.password_file is not None:
        out.append(("signing.tsa.password_file", tsa.password_file))
    return out


def check_secrets(cfg: Config) -> list[Check]:
    if os.name != "posix":  # pragma: no cover - ACLs on Windows, not modes
        return [Check("secrets", OK, "secrets-skipped", {})]
    out = []
    for what, path in secret_files(cfg):
        try:
            st = os.stat(path)
        except OSError:
            continue  # a missing file is said by the config check
        if not stat.S_ISREG(st.st_mode):
            continue
        mode = stat.S_IMODE(st.st_mode)
        status, key = evaluate_secret_mode(mode)
        out.append(Check("secrets", status, key,
                         {"what": what, "path": str(path), "mode": f"{mode:04o}"}))
    return out or [Check("secrets", OK, "secrets-none", {})]


def run(cfg: Config, offline: bool = False) -> list[Check]:
    """Every check, in the order a person reads them."""
    now = dt.datetime.now(dt.UTC)
    found = check_config(cfg, now, offline)
    vault_answers = any(c.name == "vault" and c.key == "vault-ok" for c in found)
    return [
        *found,
        *check_secrets(cfg),
        *check_daemon(cfg, now.timestamp()),
        check_clock(cfg, offline, vault_answers),
        *check_disk(cfg),
        *check_filesystems(cfg),
        check_inotify(),
    ]
