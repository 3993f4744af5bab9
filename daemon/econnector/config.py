"""The one config path: YAML -> JSON Schema validation -> frozen objects.

The JSON Schema below is the single source of truth; ``config/config.schema.json``
is generated from it (``econnector config-schema``) and a test keeps the two
equal. Unknown keys and bad values are reported with the key's dotted path.
Relative paths are resolved against the config file's folder. Secrets (key
passphrases, vault tokens) are never values in the file: only the names of
files or environment variables that hold them.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator

from .errors import ConfigError

SCHEMA_ID = "econnector.config/v1"

# Exactly one secret source: ``oneOf`` fails when none or several are given.
_secret_source = {
    "oneOf": [{"required": [k]} for k in
              ("passphrase_file", "passphrase_env", "passphrase_credential")]
}
_ENV_NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
# A systemd credential name (LoadCredential=NAME:...): a file name in $CREDENTIALS_DIRECTORY.
_CREDENTIAL_NAME = {
    "type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,254}$",
    "description": "the name of a systemd credential (LoadCredential=NAME:FILE in the "
                   "unit), read from $CREDENTIALS_DIRECTORY/NAME",
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
                    "passphrase_env": _ENV_NAME,
                    "passphrase_credential": _CREDENTIAL_NAME,
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
                "url": {
                    "type": "string", "pattern": "^https?://",
                    "description": "https://; plain http:// only for a vault on this machine "
                                   "(127.0.0.1, ::1, localhost)",
                },
                "token_file": {"type": "string", "minLength": 1},
                "token_env": _ENV_NAME,
                "token_credential": _CREDENTIAL_NAME,
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
                "oneOf": [{"required": [k]} for k in
                          ("token_file", "token_env", "token_credential")],
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


class SecretUnavailable(OSError):
    """A passphrase or token cannot be read now; the text names the variable,
    file or credential (it may appear later: the daemon tries again)."""


CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"


def read_credential(name: str, key: str) -> bytes:
    """A systemd credential (``LoadCredential=NAME:FILE``): ``$CREDENTIALS_DIRECTORY/NAME``.

    systemd passes credentials as files in a private folder it names in this
    variable, never as environment variables."""
    folder = os.environ.get(CREDENTIALS_ENV)
    if not folder:
        raise SecretUnavailable(
            f"{key}: ${CREDENTIALS_ENV} is not set, so the credential {name} cannot be "
            f"read (add LoadCredential={name}:FILE to the unit)")
    path = Path(folder) / name
    try:
        return path.read_bytes()
    except OSError as e:
        raise SecretUnavailable(
            f"{key}: cannot read the credential {path} ({e.strerror or e}; "
            f"LoadCredential={name}:FILE in the unit)") from None


def read_env(name: str, key: str) -> bytes:
    value = os.environ.get(name)
    if value is None:
        raise SecretUnavailable(f"{key}: the environment variable {name} is not set")
    return value.encode("utf-8")


def read_secret_file(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise SecretUnavailable(
            f"{key}: cannot read the file {path} ({e.strerror or e})") from None


@dataclass(frozen=True)
class Identity:
    provider_code: str
    name: str
    pkcs12: Path
    passphrase_file: Path | None
    passphrase_env: str | None
    passphrase_credential: str | None = None
    index: int = 0  # its place in ``identities`` (for messages: identities[0])

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


def _did_you_mean(key: str, known: Any) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _first_error(doc: Any) -> ConfigError | None:
    v = Draft202012Validator(SCHEMA)
    # Shallowest first; at one level an unknown key before a missing one (a misspelt
    # "identites" is both, and its "did you mean" says more).
    errors = sorted(v.iter_errors(doc), key=lambda e: (
        len(e.absolute_path), e.validator != "additionalProperties", e.message))
    if not errors:
        return None
    e = errors[0]
    where = _path(e.absolute_path)
    if e.validator == "additionalProperties":
        known = e.schema.get("properties", {})
        extra = sorted(set(e.instance) - set(known))
        key = extra[0] if extra else "?"
        full = f"{where}.{key}" if e.absolute_path else key
        if key.lower() in _SECRET_KEYS:
            return ConfigError(
                "secrets are never written in the config; use passphrase_file, "
                "passphrase_env or passphrase_credential (token_file, token_env or "
                "token_credential for the vault)",
                full,
            )
        return ConfigError("unknown key" + _did_you_mean(key, known), full)
    if e.validator == "oneOf":
        kind = "token" if e.absolute_path and e.absolute_path[0] == "vault" else "passphrase"
        return ConfigError(
            f"give exactly one of {kind}_file, {kind}_env or {kind}_credential", where
        )
    if (e.validator == "type" and e.absolute_path and e.absolute_path[-1] == "provider_code"
            and isinstance(e.instance, int)):
        shown = str(e.instance) if len(str(e.instance)) == 8 else "01234567"
        return ConfigError(
            f"write the provider code in quotes (provider_code: \"{shown}\"): unquoted, "
            "YAML reads it as a number (and a leading 0 changes it)", where)
    return ConfigError(e.message, where)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_plain_http(url: str) -> None:
    """The token and patient documents never cross a network in clear: http:// only
    to this machine (a TLS-terminating proxy on loopback, a test vault)."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"plain http:// is refused for {parts.hostname or url!r}: the token and the "
            "documents would cross the network unencrypted; use https:// (http:// is "
            "allowed only for 127.0.0.1, ::1 or localhost)", "vault.url")


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
    if v["kind"] == "http":
        _refuse_plain_http(v["url"])
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
                passphrase_credential=d.get("passphrase_credential"),
                index=i,
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
            token_credential=v.get("token_credential"),
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
    for name in ("outbox", "inbox", "archive", "failed", "work"):
        p: Path = getattr(cfg.folders, name)
        if any(x.startswith(f"folders.{name}:") for x in problems) or not p.is_dir():
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
