"""The one config path: YAML -> JSON Schema validation -> defaults -> frozen objects.

The schema (:mod:`.config_schema`) is the single source of the rules and of
every default; ``config/config.schema.json`` is generated from it. Unknown
keys and bad values are reported with the key's dotted path. Relative paths
are resolved against the config file's folder. Secrets (key passphrases, vault
tokens) are never values in the file: only the names of files, environment
variables or systemd credentials that hold them (:mod:`.credentials` reads
them when needed).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .appearance import VisibleBox
from .config_schema import SCHEMA, SCHEMA_ID, first_error, with_defaults
from .credentials import SecretUnavailable, read_credential, read_env, read_secret_file
from .errors import ConfigError

__all__ = [
    "LEVELS",
    "SCHEMA",
    "SCHEMA_ID",
    "Config",
    "ConfigError",
    "Folders",
    "Identity",
    "Limits",
    "Pkcs11Key",
    "Retry",
    "SecretUnavailable",
    "Signing",
    "Tsa",
    "Vault",
    "Watch",
    "at_least",
    "check_usable",
    "folder_gid",
    "load",
    "log_file_problem",
    "parse",
]

@dataclass(frozen=True)
class Folders:
    outbox: Path
    inbox: Path
    archive: Path
    failed: Path
    work: Path
    root: Path | None = None
    group: str | int | None = None  # folders.group as written; filemodes.resolve_group


@dataclass(frozen=True)
class Watch:
    observer: str
    settle: float
    rescan_interval: float
    incomplete_timeout: float
    orphan_timeout: float


@dataclass(frozen=True)
class Limits:
    max_pdf_bytes: int
    max_sidecar_bytes: int
    max_pages: int
    worker_memory_mb: int
    worker_timeout: float


LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def at_least(level: str, wanted: str) -> bool:
    """Does PAdES ``level`` include ``wanted`` (each level includes the ones before)?"""
    return LEVELS.index(level) >= LEVELS.index(wanted)


@dataclass(frozen=True)
class Tsa:
    url: str
    timeout: float
    username: str | None = None
    password_file: Path | None = None
    password_env: str | None = None
    password_credential: str | None = None

    def password(self) -> bytes | None:
        """The TSA password, read now (None without one); raises SecretUnavailable."""
        if self.password_file is not None:
            return read_secret_file(self.password_file, "signing.tsa.password_file").rstrip(
                b"\r\n")
        if self.password_credential is not None:
            return read_credential(self.password_credential,
                                   "signing.tsa.password_credential").rstrip(b"\r\n")
        if self.password_env is not None:
            return read_env(self.password_env, "signing.tsa.password_env").rstrip(b"\r\n")
        return None


@dataclass(frozen=True)
class Signing:
    workers: int
    bytes_reserved: int
    location: str
    level: str = "B-B"
    tsa: Tsa | None = None
    trust_roots: tuple[Path, ...] = ()
    visible: VisibleBox | None = None


@dataclass(frozen=True)
class Pkcs11Key:
    """Where a key lives on a token; the token is found by its label (slots renumber)."""

    module: Path
    token_label: str
    key_label: str | None
    key_id: bytes | None
    cert_label: str | None


@dataclass(frozen=True)
class Identity:
    provider_code: str
    name: str
    pkcs12: Path | None
    passphrase_file: Path | None
    passphrase_env: str | None
    passphrase_credential: str | None = None
    index: int = 0  # its place in ``identities`` (for messages: identities[0])
    pkcs11: Pkcs11Key | None = None
    unlock: str = "file"  # "file" or "manual" (the doctor runs ``econnector unlock``)
    level: str = "B-B"  # signing.level unless the identity says otherwise
    auto_lock_after: float | None = None
    login: str | None = None  # the doctor's login in the practice software (submitted_by)

    @property
    def manual(self) -> bool:
        return self.unlock == "manual"

    @property
    def key_source(self) -> str:
        """Where the key is, for people: the .p12 file or the token and key label."""
        if self.pkcs11 is not None:
            k = self.pkcs11
            key = k.key_label if k.key_label is not None else f"id {(k.key_id or b'').hex()}"
            return f"token {k.token_label!r}, key {key}"
        return str(self.pkcs12)

    def passphrase(self) -> bytes:
        """Read the secret now (it may be provided after start); raises
        SecretUnavailable (an OSError) naming the file, variable or credential."""
        key = f"identities[{self.index}]"
        if self.passphrase_file is not None:
            data = read_secret_file(self.passphrase_file, f"{key}.passphrase_file")
        elif self.passphrase_credential is not None:
            data = read_credential(self.passphrase_credential, f"{key}.passphrase_credential")
        else:
            assert self.passphrase_env is not None
            data = read_env(self.passphrase_env, f"{key}.passphrase_env")
        return data.rstrip(b"\r\n")


@dataclass(frozen=True)
class Vault:
    kind: str
    url: str | None
    token_file: Path | None
    token_env: str | None
    ca_bundle: Path | None
    data_dir: Path
    timeout: float
    concurrency: int
    token_credential: str | None = None

    def token(self) -> str:
        """The vault token, read now; raises SecretUnavailable naming its source."""
        if self.token_file is not None:
            data = read_secret_file(self.token_file, "vault.token_file")
        elif self.token_credential is not None:
            data = read_credential(self.token_credential, "vault.token_credential")
        elif self.token_env is not None:
            data = read_env(self.token_env, "vault.token_env")
        else:
            return ""
        try:
            return data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SecretUnavailable("the vault token is not UTF-8 text") from None


@dataclass(frozen=True)
class Patients:
    status_ttl: float  # seconds a digital status decides deliveries


@dataclass(frozen=True)
class InvoiceQr:
    enabled: bool
    page: int  # 1-based
    x_mm: float
    y_mm: float
    size_mm: float


@dataclass(frozen=True)
class Assistants:
    enforce: bool


@dataclass(frozen=True)
class Audit:
    anchor_every: float  # seconds between anchors of the trail's head


@dataclass(frozen=True)
class Followup:
    enabled: bool
    poll_every: float
    window_days: int
    max_per_round: int


@dataclass(frozen=True)
class Node:
    id: str  # this daemon's name among the practice's PCs
    shared_outbox: bool  # claim each drop by a rename before working on it
    lease: float  # seconds; a claim not renewed for this long is taken over


@dataclass(frozen=True)
class Heartbeat:
    enabled: bool
    interval: float  # seconds between rewrites of inbox/_econnector.json


@dataclass(frozen=True)
class LogRotation:
    max_bytes: int  # the log file is rotated at this size
    keep: int  # rotated files kept
    console: str  # "auto", "json" or "text" (stdout only)


def default_node_id() -> str:
    """The host name, made a valid node id (letters, digits, - and _)."""
    import re
    import socket

    name = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname().split(".")[0]).strip("-_")
    return (name or "node")[:63]


@dataclass(frozen=True)
class Retry:
    base: float
    cap: float


@dataclass(frozen=True)
class Config:
    path: Path | None
    folders: Folders
    watch: Watch
    limits: Limits
    signing: Signing
    identities: tuple[Identity, ...]
    vault: Vault
    retry: Retry
    default_language: str
    log_file: str
    log_level: str
    patients: Patients = Patients(status_ttl=3600.0)
    invoice_qr: InvoiceQr = InvoiceQr(enabled=True, page=1, x_mm=180.0, y_mm=12.0, size_mm=20.0)
    assistants: Assistants = Assistants(enforce=False)
    audit: Audit = Audit(anchor_every=3600.0)
    followup: Followup = Followup(enabled=True, poll_every=600.0, window_days=30,
                                  max_per_round=100)
    node: Node = Node(id="node", shared_outbox=False, lease=120.0)
    heartbeat: Heartbeat = Heartbeat(enabled=True, interval=5.0)
    log_rotation: LogRotation = LogRotation(max_bytes=20 * 1024 * 1024, keep=5, console="auto")

    def identity(self, provider_code: str) -> Identity | None:
        return next((i for i in self.identities if i.provider_code == provider_code), None)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_plain_http(url: str, key: str = "vault.url",
                       what: str = "the token and the documents") -> None:
    """Secrets and patient documents never cross a network in clear: http:// only
    to this machine (a TLS-terminating proxy on loopback, a test vault)."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"plain http:// is refused for {parts.hostname or url!r}: {what} would cross "
            "the network unencrypted; use https:// (http:// is allowed only for 127.0.0.1, "
            "::1 or localhost)", key)


def _resolve(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (base / p)


_SEPARATE = ("outbox", "inbox", "archive", "failed", "work")


def _refuse_overlap(folders: Folders) -> None:
    """Any two of the five folders equal or nested is a mistake, caught here: with
    ``inbox: outbox`` the daemon would process its own status files, over and over.
    Paths are compared with links resolved (``realpath``) where they exist."""
    real = {n: Path(os.path.realpath(getattr(folders, n))) for n in _SEPARATE}
    for i, a in enumerate(_SEPARATE):
        for b in _SEPARATE[i + 1:]:
            pa, pb = real[a], real[b]
            if pa == pb:
                raise ConfigError(f"is the same folder as folders.{a} ({pa}); the outbox, "
                                  "inbox, archive, failed and work folders must be separate",
                                  f"folders.{b}")
            for inner, outer in ((a, b), (b, a)):
                if real[outer] in real[inner].parents:
                    raise ConfigError(f"({real[inner]}) is inside folders.{outer} "
                                      f"({real[outer]}); the outbox, inbox, archive, failed "
                                      "and work folders must not contain one another",
                                      f"folders.{inner}")


def parse(doc: Any, base: Path, path: Path | None = None) -> Config:
    """Validate a loaded YAML document and build frozen config objects; every
    setting the document leaves out takes the schema's default."""
    err = first_error(doc)
    if err:
        raise err
    doc = with_defaults(doc)
    folders = _folders(doc["folders"], base)
    _refuse_overlap(folders)
    w, lim, sig, r, log = (doc[k] for k in ("watch", "limits", "signing", "retry", "logging"))
    identities = _identities(doc["identities"], base, sig["level"])
    _require_services(sig, doc["identities"])
    q, fu = doc["invoice_qr"], doc["followup"]
    return Config(
        path=path,
        folders=folders,
        watch=Watch(
            observer=w["observer"],
            settle=w["settle_ms"] / 1000.0,
            rescan_interval=float(w["rescan_interval_s"]),
            incomplete_timeout=float(w["incomplete_timeout_s"]),
            orphan_timeout=float(w["orphan_timeout_s"]),
        ),
        limits=Limits(
            max_pdf_bytes=lim["max_pdf_mb"] * 1024 * 1024,
            max_sidecar_bytes=lim["max_sidecar_kb"] * 1024,
            max_pages=lim["max_pages"],
            worker_memory_mb=lim["worker_memory_mb"],
            worker_timeout=float(lim["worker_timeout_s"]),
        ),
        signing=_signing(sig, base),
        identities=identities,
        vault=_vault(doc["vault"], base, folders),
        retry=Retry(base=float(r["base_s"]), cap=float(r["cap_s"])),
        default_language=doc["receipts"]["default_language"],
        log_file=log["file"] if log["file"] == "-" else str(_resolve(base, log["file"])),
        log_level=log["level"],
        patients=Patients(status_ttl=float(doc["patients"]["status_ttl_s"])),
        invoice_qr=InvoiceQr(enabled=q["enabled"], page=q["page"], x_mm=float(q["x_mm"]),
                             y_mm=float(q["y_mm"]), size_mm=float(q["size_mm"])),
        assistants=Assistants(enforce=doc["assistants"]["enforce"]),
        audit=Audit(anchor_every=float(doc["audit"]["anchor_every_s"])),
        followup=Followup(enabled=fu["enabled"], poll_every=float(fu["poll_every_s"]),
                          window_days=fu["window_days"], max_per_round=fu["max_per_round"]),
        # Not in the schema's defaults: it depends on the machine.
        node=Node(id=doc["node"].get("id") or default_node_id(),
                  shared_outbox=doc["node"]["shared_outbox"], lease=float(doc["node"]["lease_s"])),
        heartbeat=Heartbeat(enabled=doc["heartbeat"]["enabled"],
                            interval=float(doc["heartbeat"]["interval_s"])),
        log_rotation=LogRotation(max_bytes=log["max_mb"] * 1024 * 1024, keep=log["keep"],
                                 console=log["console"]),
    )


def _folders(f: dict[str, Any], base: Path) -> Folders:
    """Each folder as given, else ``<root>/<name>``."""
    root = _resolve(base, f["root"])
    assert root is not None

    def folder(name: str) -> Path:
        return _resolve(base, f.get(name)) or root / name

    return Folders(outbox=folder("outbox"), inbox=folder("inbox"), archive=folder("archive"),
                   failed=folder("failed"), work=folder("work"), root=root,
                   group=f.get("group"))


def _require_services(sig: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """A timestamped level needs a TSA; every level from B-T needs the trust roots (the
    timestamp's and the certificate's chains are checked before upload)."""
    where = [("signing.level", sig["level"])] + [
        (f"identities[{i}].level", d["level"]) for i, d in enumerate(items) if "level" in d]
    for key, level in where:
        if not at_least(level, "B-T"):
            continue
        if "tsa" not in sig:
            raise ConfigError(f"level {level} (set by {key}) needs a timestamp service: set "
                              "signing.tsa.url (the qualified TSA of the doctor's "
                              "certificate provider)", "signing.tsa")
        if not sig["trust_roots"]:
            raise ConfigError(f"level {level} (set by {key}) needs signing.trust_roots: the "
                              "PEM files of the CAs that issued the doctors' and the TSA's "
                              "certificates", "signing.trust_roots")


def _signing(sig: dict[str, Any], base: Path) -> Signing:
    t = sig.get("tsa")
    tsa = None
    if t is not None:
        if t.get("username"):  # a timestamp itself is signed: plain http is fine without a password
            _refuse_plain_http(t["url"], "signing.tsa.url", "the TSA password")
        given = [k for k in ("password_file", "password_env", "password_credential") if k in t]
        if len(given) > 1:
            raise ConfigError("give at most one of password_file, password_env or "
                              "password_credential", "signing.tsa")
        if given and not t.get("username"):
            raise ConfigError(f"{given[0]} needs signing.tsa.username (HTTP basic "
                              "authentication)", "signing.tsa.username")
        tsa = Tsa(url=t["url"], timeout=float(t["timeout_s"]), username=t.get("username"),
                  password_file=_resolve(base, t.get("password_file")),
                  password_env=t.get("password_env"),
                  password_credential=t.get("password_credential"))
    roots = tuple(p for p in (_resolve(base, r) for r in sig["trust_roots"]) if p is not None)
    v = sig.get("visible")
    visible = VisibleBox(page=v["page"], x_mm=float(v["x_mm"]), y_mm=float(v["y_mm"]),
                         width_mm=float(v["width_mm"]),
                         height_mm=float(v["height_mm"])) if v is not None else None
    return Signing(
        # Not in the schema's defaults: it depends on the machine.
        workers=sig.get("workers") or min(4, os.cpu_count() or 1),
        bytes_reserved=sig["bytes_reserved"],
        location=sig["location"],
        level=sig["level"],
        tsa=tsa,
        trust_roots=roots,
        visible=visible,
    )


_PASSPHRASE_KEYS = ("passphrase_file", "passphrase_env", "passphrase_credential")


def _pkcs11(d: dict[str, Any] | None, base: Path) -> Pkcs11Key | None:
    if d is None:
        return None
    module = _resolve(base, d["module"])
    assert module is not None
    return Pkcs11Key(module=module, token_label=d["token_label"],
                     key_label=d.get("key_label"),
                     key_id=bytes.fromhex(d["key_id"]) if "key_id" in d else None,
                     cert_label=d.get("cert_label"))


def _identities(items: list[dict[str, Any]], base: Path, level: str) -> tuple[Identity, ...]:
    identities = []
    seen: set[str] = set()
    for i, d in enumerate(items):
        key = f"identities[{i}]"
        if d["provider_code"] in seen:
            raise ConfigError("duplicate provider_code", f"{key}.provider_code")
        seen.add(d["provider_code"])
        # A key on a token is unlocked by the doctor unless the practice says otherwise.
        unlock = d.get("unlock") or ("manual" if "pkcs11" in d else "file")
        given = [k for k in _PASSPHRASE_KEYS if k in d]
        secret = "PIN" if "pkcs11" in d else "passphrase"
        if unlock == "manual" and given:
            raise ConfigError(
                f"a manual identity's {secret} is typed by the doctor (econnector unlock "
                f"{d['provider_code']}) and is never stored: remove {given[0]}, or set "
                "unlock: file", f"{key}.{given[0]}")
        if unlock == "file" and len(given) != 1:
            raise ConfigError(
                f"give exactly one of passphrase_file, passphrase_env or passphrase_credential "
                f"(the {secret}), or set unlock: manual so that the doctor unlocks it",
                key)
        if "auto_lock_after_s" in d and unlock != "manual":
            raise ConfigError("only a manual identity locks itself again (unlock: manual)",
                              f"{key}.auto_lock_after_s")
        identities.append(
            Identity(
                provider_code=d["provider_code"],
                name=d["name"],
                pkcs12=_resolve(base, d.get("pkcs12")),
                passphrase_file=_resolve(base, d.get("passphrase_file")),
                passphrase_env=d.get("passphrase_env"),
                passphrase_credential=d.get("passphrase_credential"),
                index=i,
                pkcs11=_pkcs11(d.get("pkcs11"), base),
                unlock=unlock,
                level=d.get("level") or level,
                auto_lock_after=(float(d["auto_lock_after_s"]) if "auto_lock_after_s" in d
                                 else None),
                login=d.get("login"),
            )
        )
    return tuple(identities)


def _vault(v: dict[str, Any], base: Path, folders: Folders) -> Vault:
    if v["kind"] == "http":
        _refuse_plain_http(v["url"])
    return Vault(
        kind=v["kind"],
        url=v.get("url"),
        token_file=_resolve(base, v.get("token_file")),
        token_env=v.get("token_env"),
        ca_bundle=_resolve(base, v.get("ca_bundle")),
        data_dir=_resolve(base, v.get("data_dir")) or folders.work / "vault",
        timeout=float(v["timeout_s"]),
        concurrency=v["concurrency"],
        token_credential=v.get("token_credential"),
    )


def load(path: Path) -> Config:
    """Read and validate a config file; every failure is a one-line ConfigError."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return parse(doc, path.resolve().parent, path)


def folder_gid(cfg: Config) -> int | None:
    """``folders.group`` as a gid (raises ConfigError when unknown or unusable)."""
    from .filemodes import group_usable, resolve_group

    try:
        gid = resolve_group(cfg.folders.group)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if gid is not None and not group_usable(gid):
        raise ConfigError(
            f"the service user is not a member of group {cfg.folders.group}, so it cannot "
            "give the practice its files; add it (usermod -aG GROUP USER, or "
            "SupplementaryGroups= in the unit)", "folders.group")
    return gid


# A missing outbox or inbox (a share not mounted yet) does not stop ``run``: the
# daemon waits for it and says so (``outbox-missing``/``inbox-missing``).
WAITED_FOLDERS = ("outbox", "inbox")


def log_file_problem(log_file: str) -> str | None:
    """Why ``logging.file`` cannot be opened for appending, or None (checked without
    creating it: ``run`` would otherwise crash on it, and systemd restart it forever)."""
    if log_file == "-":
        return None
    path = Path(log_file)
    folder = path.parent
    if not folder.is_dir():
        return (f"logging.file: the folder {folder} does not exist; create it (writable by "
                "the service user) or change logging.file (\"-\" logs to stdout)")
    if path.is_dir():
        return f"logging.file: {path} is a folder; give a file name"
    target, what = (path, "the log file") if path.exists() else (folder, "the folder")
    if not os.access(target, os.W_OK | (os.X_OK if target == folder else 0)):
        return (f"logging.file: {what} {target} is not writable by this user; fix its "
                "owner or mode, or change logging.file")
    return None


def windows_folder_problems(cfg: Config, mapped: Mapping[str, str] | None = None) -> list[str]:
    """The folders (and the log file) on a mapped drive letter: invisible to a Windows
    service; the line names the UNC path to use (:mod:`.winpaths`). ``mapped``: drive
    letter -> UNC path, else asked of Windows."""
    from .winpaths import folder_problems

    fields = {f"folders.{n}": str(getattr(cfg.folders, n))
              for n in ("outbox", "inbox", "archive", "failed", "work")}
    if cfg.log_file != "-":
        fields["logging.file"] = cfg.log_file
    return folder_problems(fields, mapped)


def check_usable(cfg: Config, wait_for_folders: bool = False) -> list[str]:
    """Problems that stop the daemon from running (folders, key files, vault secrets,
    the log file), one line each.

    Creates ``folders.root`` and the missing folders inside it with their modes and
    fixes the modes of those econnector owns (:mod:`.filemodes`); refuses secret
    files others may read (:mod:`.hardening`). With ``wait_for_folders`` (``run``),
    a missing outbox or inbox outside the root is not a problem: the daemon waits.
    """
    from .filemodes import prepare_folders
    from .hardening import exposed_secret_files

    try:
        gid = folder_gid(cfg)
    except ConfigError as e:
        return [e.message]
    problems: list[str] = prepare_folders(
        cfg.folders, cfg.folders.root, gid, WAITED_FOLDERS if wait_for_folders else ())
    if sys.platform == "win32":  # a service cannot see the mapped drives of a session
        problems += windows_folder_problems(cfg)
    for name in ("outbox", "inbox", "archive", "failed", "work"):
        p: Path = getattr(cfg.folders, name)
        if any(x.startswith(f"folders.{name}:") for x in problems) or not p.is_dir():
            continue
        if not os.access(p, os.W_OK | os.X_OK):
            problems.append(f"folders.{name}: {p} is not writable")
    problems += exposed_secret_files(cfg)
    if cfg.signing.trust_roots:
        from .signer import read_trust_roots  # (signer imports this module)

        try:
            read_trust_roots(cfg.signing.trust_roots)
        except ValueError as e:
            problems.append(f"signing.trust_roots: {e}")
    if cfg.signing.visible is not None:
        from .appearance import FONT_FILE

        if not FONT_FILE.is_file():
            problems.append(f"signing.visible: the box's font {FONT_FILE} is missing "
                            "(Debian: apt-get install fonts-dejavu-core)")
    if cfg.signing.tsa is not None and cfg.signing.tsa.username:
        try:
            cfg.signing.tsa.password()
        except SecretUnavailable as e:
            problems.append(str(e))
    for i, ident in enumerate(cfg.identities):
        if ident.pkcs12 is not None and not ident.pkcs12.is_file():
            problems.append(f"identities[{i}].pkcs12: no such file {ident.pkcs12}")
        if ident.pkcs11 is not None and not ident.pkcs11.module.is_file():
            problems.append(f"identities[{i}].pkcs11.module: no such file "
                            f"{ident.pkcs11.module} (install the card's PKCS#11 driver, or "
                            "correct the path)")
    if cfg.vault.kind == "http":
        try:
            if not cfg.vault.token():
                problems.append("vault: the token is empty")
        except SecretUnavailable as e:
            v = cfg.vault
            fix = ("set it for the service (a systemd drop-in), or use token_file or "
                   "token_credential" if v.token_env and not (v.token_file or v.token_credential)
                   else "check the unit's LoadCredential= line" if v.token_credential
                   else "create it (mode 0600, owned by the service user) or correct the path")
            problems.append(f"{e}; econnector cannot deliver: {fix}")
        if cfg.vault.ca_bundle is not None and not cfg.vault.ca_bundle.is_file():
            problems.append(f"vault.ca_bundle: no such file {cfg.vault.ca_bundle}")
    log_problem = log_file_problem(cfg.log_file)
    if log_problem:
        problems.append(log_problem)
    return problems
