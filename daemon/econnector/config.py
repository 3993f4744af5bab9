"""The one config path: YAML -> JSON Schema validation -> frozen objects.

The JSON Schema below is the single source of truth; ``config/config.schema.json``
is generated from it (``econnector config-schema``) and a test keeps the two
equal. Unknown keys and bad values are reported with the key's dotted path.
Relative paths are resolved against the config file's folder. Secrets (key
passphrases, vault tokens) are never values in the file: only the names of
files or environment variables that hold them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from .errors import ConfigError

SCHEMA_ID = "econnector.config/v1"

_secret_source = {
    "oneOf": [
        {"required": ["passphrase_file"], "not": {"required": ["passphrase_env"]}},
        {"required": ["passphrase_env"], "not": {"required": ["passphrase_file"]}},
    ]
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://econnector.example/schemas/config-v1.json",
    "title": "econnector configuration v1",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "folders", "identities", "vault"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "folders": {
            "type": "object",
            "additionalProperties": False,
            "required": ["root"],
            "description": "Each folder defaults to <root>/<name>.",
            "properties": {
                **{
                    k: {"type": "string", "minLength": 1}
                    for k in ("root", "outbox", "inbox", "archive", "failed", "work")
                },
                "group": {
                    "type": ["string", "integer"], "minLength": 1, "minimum": 0,
                    "description": "the practice group (name or gid) that may read inbox/, "
                                   "archive/ and failed/ (folders 2750, files 0640) and "
                                   "write an outbox econnector creates (2770); without it "
                                   "only the service user can (0700/0600)",
                },
            },
        },
        "watch": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "observer": {
                    "enum": ["native", "polling", "none"], "default": "native",
                    "description": "native: inotify/ReadDirectoryChangesW; polling: for network "
                                   "shares; none: periodic rescans only",
                },
                "settle_ms": {"type": "integer", "minimum": 50, "maximum": 60000, "default": 250},
                "rescan_interval_s": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 3600, "default": 10
                },
                "incomplete_timeout_s": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": 120
                },
                "orphan_timeout_s": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 604800, "default": 600
                },
            },
        },
        "limits": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_pdf_mb": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 100},
                "max_sidecar_kb": {"type": "integer", "minimum": 1, "maximum": 1024, "default": 64},
                "max_pages": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 2000},
                "worker_memory_mb": {
                    "type": "integer", "minimum": 256, "maximum": 65536, "default": 2048
                },
                "worker_timeout_s": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 3600, "default": 120
                },
            },
        },
        "signing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "workers": {
                    "type": "integer", "minimum": 1, "maximum": 64,
                    "description": "signing worker processes; default: the number of CPUs, "
                                   "at most 4",
                },
                "bytes_reserved": {
                    "type": "integer", "minimum": 4096, "maximum": 1048576, "default": 16384
                },
                "location": {"type": "string", "maxLength": 200, "default": "Luxembourg"},
            },
        },
        "identities": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["provider_code", "name", "pkcs12"],
                "properties": {
                    "provider_code": {"type": "string", "pattern": "^[0-9]{8}$"},
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "pkcs12": {"type": "string", "minLength": 1},
                    "passphrase_file": {"type": "string", "minLength": 1},
                    "passphrase_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                },
                **_secret_source,
            },
        },
        "vault": {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind"],
            "properties": {
                "kind": {"enum": ["local", "http"]},
                "url": {"type": "string", "pattern": "^https?://"},
                "token_file": {"type": "string", "minLength": 1},
                "token_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "ca_bundle": {"type": "string", "minLength": 1},
                "data_dir": {"type": "string", "minLength": 1},
                "timeout_s": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 3600, "default": 60
                },
                "concurrency": {"type": "integer", "minimum": 1, "maximum": 64, "default": 4},
            },
            "if": {"properties": {"kind": {"const": "http"}}},
            "then": {
                "required": ["url"],
                "oneOf": [
                    {"required": ["token_file"], "not": {"required": ["token_env"]}},
                    {"required": ["token_env"], "not": {"required": ["token_file"]}},
                ],
            },
        },
        "retry": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "base_s": {"type": "number", "exclusiveMinimum": 0, "default": 2},
                "cap_s": {"type": "number", "exclusiveMinimum": 0, "default": 300},
            },
        },
        "receipts": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"default_language": {"enum": ["fr", "de", "en"], "default": "fr"}},
        },
        "logging": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "file": {"type": "string", "minLength": 1, "default": "-"},
                "level": {"enum": ["debug", "info", "warning", "error"], "default": "info"},
            },
        },
    },
}

_SECRET_KEYS = {"passphrase", "password", "token", "pin", "secret"}


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


@dataclass(frozen=True)
class Signing:
    workers: int
    bytes_reserved: int
    location: str


@dataclass(frozen=True)
class Identity:
    provider_code: str
    name: str
    pkcs12: Path
    passphrase_file: Path | None
    passphrase_env: str | None

    def passphrase(self) -> bytes:
        """Read the secret now (it may be provided after start); raises OSError/KeyError."""
        if self.passphrase_file is not None:
            return self.passphrase_file.read_bytes().rstrip(b"\r\n")
        assert self.passphrase_env is not None
        return os.environ[self.passphrase_env].encode("utf-8")


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

    def token(self) -> str:
        if self.token_file is not None:
            return self.token_file.read_text("utf-8").strip()
        if self.token_env is not None:
            return os.environ[self.token_env].strip()
        return ""


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

    def identity(self, provider_code: str) -> Identity | None:
        return next((i for i in self.identities if i.provider_code == provider_code), None)


def _path(err_path: Any) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in err_path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


def _first_error(doc: Any) -> ConfigError | None:
    v = Draft202012Validator(SCHEMA)
    errors = sorted(v.iter_errors(doc), key=lambda e: (len(e.absolute_path), e.message))
    if not errors:
        return None
    e = errors[0]
    where = _path(e.absolute_path)
    if e.validator == "additionalProperties":
        extra = sorted(set(e.instance) - set(e.schema.get("properties", {})))
        key = extra[0] if extra else "?"
        full = f"{where}.{key}" if e.absolute_path else key
        if key.lower() in _SECRET_KEYS:
            return ConfigError(
                "secrets are never written in the config; use passphrase_file/passphrase_env "
                "or token_file/token_env",
                full,
            )
        return ConfigError("unknown key", full)
    if e.validator == "oneOf":
        return ConfigError(
            "give exactly one secret source (…_file or …_env)", where
        )
    return ConfigError(e.message, where)


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
    """Validate a loaded YAML document and build frozen config objects."""
    err = _first_error(doc)
    if err:
        raise err
    f = doc["folders"]
    root = _resolve(base, f["root"])
    assert root is not None

    def folder(name: str) -> Path:
        return _resolve(base, f.get(name)) or root / name

    folders = Folders(outbox=folder("outbox"), inbox=folder("inbox"), archive=folder("archive"),
                      failed=folder("failed"), work=folder("work"), root=root,
                      group=f.get("group"))
    _refuse_overlap(folders)
    w = doc.get("watch", {})
    lim = doc.get("limits", {})
    sig = doc.get("signing", {})
    v = doc["vault"]
    r = doc.get("retry", {})
    log = doc.get("logging", {})
    identities = []
    seen: set[str] = set()
    for i, d in enumerate(doc["identities"]):
        if d["provider_code"] in seen:
            raise ConfigError("duplicate provider_code", f"identities[{i}].provider_code")
        seen.add(d["provider_code"])
        pk = _resolve(base, d["pkcs12"])
        assert pk is not None
        identities.append(
            Identity(
                provider_code=d["provider_code"],
                name=d["name"],
                pkcs12=pk,
                passphrase_file=_resolve(base, d.get("passphrase_file")),
                passphrase_env=d.get("passphrase_env"),
            )
        )
    return Config(
        path=path,
        folders=folders,
        watch=Watch(
            observer=w.get("observer", "native"),
            settle=w.get("settle_ms", 250) / 1000.0,
            rescan_interval=float(w.get("rescan_interval_s", 10)),
            incomplete_timeout=float(w.get("incomplete_timeout_s", 120)),
            orphan_timeout=float(w.get("orphan_timeout_s", 600)),
        ),
        limits=Limits(
            max_pdf_bytes=lim.get("max_pdf_mb", 100) * 1024 * 1024,
            max_sidecar_bytes=lim.get("max_sidecar_kb", 64) * 1024,
            max_pages=lim.get("max_pages", 2000),
            worker_memory_mb=lim.get("worker_memory_mb", 2048),
            worker_timeout=float(lim.get("worker_timeout_s", 120)),
        ),
        signing=Signing(
            workers=sig.get("workers", min(4, os.cpu_count() or 1)),
            bytes_reserved=sig.get("bytes_reserved", 16384),
            location=sig.get("location", "Luxembourg"),
        ),
        identities=tuple(identities),
        vault=Vault(
            kind=v["kind"],
            url=v.get("url"),
            token_file=_resolve(base, v.get("token_file")),
            token_env=v.get("token_env"),
            ca_bundle=_resolve(base, v.get("ca_bundle")),
            data_dir=_resolve(base, v.get("data_dir")) or folders.work / "vault",
            timeout=float(v.get("timeout_s", 60)),
            concurrency=v.get("concurrency", 4),
        ),
        retry=Retry(base=float(r.get("base_s", 2)), cap=float(r.get("cap_s", 300))),
        default_language=doc.get("receipts", {}).get("default_language", "fr"),
        log_file=(log.get("file", "-") if log.get("file", "-") == "-"
                  else str(_resolve(base, log["file"]))),
        log_level=log.get("level", "info"),
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


def check_usable(cfg: Config) -> list[str]:
    """Problems that stop the daemon from running (folders, key files, vault secrets).

    Creates missing folders with their modes and fixes the modes of those
    econnector owns (:mod:`.filemodes`); refuses secret files others may read
    (:mod:`.hardening`).
    """
    from .filemodes import prepare_folders
    from .hardening import exposed_secret_files

    try:
        gid = folder_gid(cfg)
    except ConfigError as e:
        return [e.message]
    problems: list[str] = prepare_folders(cfg.folders, cfg.folders.root, gid)
    for name in ("outbox", "inbox", "archive", "failed", "work"):
        p: Path = getattr(cfg.folders, name)
        if any(x.startswith(f"folders.{name}:") for x in problems):
            continue
        if not os.access(p, os.W_OK | os.X_OK):
            problems.append(f"folders.{name}: {p} is not writable")
    problems += exposed_secret_files(cfg)
    for i, ident in enumerate(cfg.identities):
        if not ident.pkcs12.is_file():
            problems.append(f"identities[{i}].pkcs12: no such file {ident.pkcs12}")
    if cfg.vault.kind == "http":
        try:
            if not cfg.vault.token():
                problems.append("vault: the token is empty")
        except (OSError, KeyError) as e:
            problems.append(f"vault: cannot read the token: {e}")
        if cfg.vault.ca_bundle is not None and not cfg.vault.ca_bundle.is_file():
            problems.append(f"vault.ca_bundle: no such file {cfg.vault.ca_bundle}")
    return problems
