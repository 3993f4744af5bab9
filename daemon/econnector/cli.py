"""Command line: run, status, check-config, vault serve, demo-setup, demo-drop.

Practice IT never reads a stack trace: expected failures print one line
``econnector: <reason>`` and exit non-zero: 2 (:data:`EXIT_CONFIG`) for the
configuration, folders, keys and secrets (the systemd unit does not restart on
it: ``RestartPreventExitStatus=2``), 1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config, Identity
    from .signer import SignerInfo

EXIT_CONFIG = 2
VAULT_CHECK_TIMEOUT = 20.0


def default_config_path() -> Path:
    """$ECONNECTOR_CONFIG, else the system's config folder as the docs say:
    ``/etc/econnector/`` (Linux and other POSIX systems), ``%PROGRAMDATA%\\econnector\\``
    (Windows). Explicit, not platformdirs: that gives ``/etc/xdg/`` on Linux."""
    env = os.environ.get("ECONNECTOR_CONFIG")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = os.environ.get("PROGRAMDATA") or r"C:\ProgramData"
        return Path(base) / "econnector" / "econnector.yaml"
    return Path("/etc/econnector/econnector.yaml")


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, default=None,
                   help="config file (default: $ECONNECTOR_CONFIG, else "
                        "/etc/econnector/econnector.yaml; on Windows "
                        "%%PROGRAMDATA%%\\econnector\\econnector.yaml)")


def _load(args: argparse.Namespace) -> Config:
    from . import config

    return config.load(args.config or default_config_path())


def cmd_run(args: argparse.Namespace) -> int:
    from . import config, filemodes, hardening, instancelock

    # This process will hold passphrases: no core file, not dumpable, and nothing
    # it creates is readable by others unless given a mode on purpose (filemodes).
    hardening.harden_process()
    hardening.private_umask()
    cfg = _load(args)
    hardening.forbid_env(hardening.secret_env_names(cfg))
    # A missing outbox or inbox (a share not mounted yet) is waited for, not fatal.
    problems = config.check_usable(cfg, wait_for_folders=True)
    if problems:
        raise ConfigError(problems[0])
    # One daemon per set of folders; the descriptor stays open (locked) until we exit.
    instancelock.acquire(cfg.folders.work)
    # A missing outbox or inbox is said once, by the daemon, which watches for it.
    filemodes.set_policy(filemodes.policy_for(cfg.folders, config.folder_gid(cfg)))
    from . import logs, runtime

    try:
        logs.configure(cfg.log_file, cfg.log_level)
    except OSError as e:  # checked above; this is what changed in between
        raise ConfigError(f"cannot open the log file {cfg.log_file} ({e.strerror or e})",
                          "logging.file") from None
    return asyncio.run(runtime.serve(cfg))


# -- check-config --------------------------------------------------------------------------


def _day(iso: str) -> str:
    return iso[:10]


def _who(ident: Identity) -> str:
    return f"identity {ident.provider_code} ({ident.name})"


def identity_verdict(ident: Identity, info: SignerInfo, now: dt.datetime
                     ) -> tuple[str | None, str | None]:
    """(problem, warning) for an unlocked identity at ``now``: a certificate that is
    expired or not valid yet cannot sign; one that expires within
    ``EXPIRY_WARNING_DAYS`` days is a warning. Pure."""
    from .signer import EXPIRY_WARNING_DAYS, days_left, validity

    key = f"identities[{ident.index}].pkcs12"
    held = validity(info, now)
    span = f"valid {_day(info.not_before)} to {_day(info.not_after)}"
    if held is not None and held.code == "certificate-expired":
        return (f"{key}: certificate-expired: the signing certificate of {_who(ident)} "
                f"expired on {_day(info.not_after)} ({span}); econnector does not sign with "
                "it: install the doctor's renewed certificate (a new .p12 file) and run "
                "check-config again"), None
    if held is not None:
        return (f"{key}: certificate-not-yet-valid: the signing certificate of {_who(ident)} "
                f"is valid only from {_day(info.not_before)} ({span}); econnector does not "
                "sign with it before then: check this computer's date, or install the "
                "current certificate"), None
    left = days_left(info, now)
    if left <= EXPIRY_WARNING_DAYS:
        n = math.ceil(left)
        return None, (f"{key}: the signing certificate of {_who(ident)} expires on "
                      f"{_day(info.not_after)}, in {n} day{'' if n == 1 else 's'}; order the "
                      "renewal now "
                      "(after that day the doctor's documents wait, unsigned)")
    return None, None


def check_identity(ident: Identity, now: dt.datetime) -> tuple[str, str | None, str | None]:
    """(line for stdout, problem, warning): can this identity sign now, and if not, why
    (named with its key and the fix)."""
    from .config import SecretUnavailable
    from .errors import Held
    from .signer import identity_info

    who = _who(ident)
    try:
        secret = ident.passphrase()
    except SecretUnavailable as e:
        source = ("set it for the service (a systemd drop-in), or use passphrase_file or "
                  "passphrase_credential" if ident.passphrase_env else
                  "check the unit's LoadCredential= line (outside systemd, "
                  "$CREDENTIALS_DIRECTORY must name the folder)" if ident.passphrase_credential
                  else "create it (mode 0600, owned by the service user) or correct the path")
        return f"{who}: LOCKED", f"{e}; {who} cannot sign: {source}", None
    try:
        info = identity_info(ident.provider_code, ident.pkcs12, secret)
    except Held as e:
        detail = str(e.params.get("detail") or "locked")
        fix = ("check the passphrase and the .p12 file" if "passphrase" in detail else
               "make it readable by the service user (mode 0600 or 0640)")
        return (f"{who}: LOCKED", f"identities[{ident.index}].pkcs12: {who} cannot sign: "
                f"{detail} ({ident.pkcs12}); {fix}", None)
    problem, warning = identity_verdict(ident, info, now)
    state = "CANNOT SIGN" if problem else "unlocked"
    return (f"{who}: {state} ({info.subject}, valid "
            f"{_day(info.not_before)} to {_day(info.not_after)})", problem, warning)


def vault_problems(cfg: Config, timeout: float = VAULT_CHECK_TIMEOUT) -> list[str]:
    """Ask the vault: ``/v1/health`` and one authenticated call (vault_client.preflight);
    one line per problem (unreachable, TLS verification failed, token refused)."""
    from .vault_client import preflight
    from .vault_transport import make_vault_client

    async def ask() -> list[str]:
        client = make_vault_client(cfg)
        try:
            codes = [i.provider_code for i in cfg.identities]
            return list(await asyncio.wait_for(preflight(client, codes), timeout))
        except TimeoutError:
            return [f"no answer from {cfg.vault.url} within {timeout:.0f} s"]
        finally:
            await client.aclose()

    return [p if p.startswith("vault") else f"vault.url: {p}" for p in asyncio.run(ask())]


def cmd_check_config(args: argparse.Namespace) -> int:
    from . import config

    cfg = _load(args)
    problems = config.check_usable(cfg)
    warnings: list[str] = []
    lines: list[str] = []
    now = dt.datetime.now(dt.UTC)
    for ident in cfg.identities:
        if not ident.pkcs12.is_file():
            continue  # reported by check_usable
        line, problem, warning = check_identity(ident, now)
        lines.append(line)
        problems += [problem] if problem else []
        warnings += [warning] if warning else []
    if cfg.vault.kind == "http" and not args.offline and not any(
            p.startswith("vault") for p in problems):
        problems += vault_problems(cfg)
    for line in lines:
        print(line, flush=True)
    for w in warnings:
        print(f"econnector: warning: {w}", file=sys.stderr)
    for p in problems:
        print(f"econnector: {p}", file=sys.stderr)
    if problems:
        return EXIT_CONFIG
    vault = f"vault {cfg.vault.kind}" + (f" {cfg.vault.url}" if cfg.vault.url else "")
    if cfg.vault.kind == "http":
        vault += " (not contacted: --offline)" if args.offline else " (answers)"
    print(f"config ok: {cfg.path}; outbox {cfg.folders.outbox}; {vault}")
    return 0


def _iso(ts: float | None) -> str | None:
    from .receipts import iso

    return None if ts is None else iso(ts)


def _doc_json(d: Any) -> dict[str, Any]:
    return {"id": d.id, "file": d.stem, "document_id": d.document_id, "state": d.state.value,
            "reason": d.reason, "attempts": d.attempts, "updated_at": _iso(d.updated_at),
            "next_attempt_at": _iso(d.next_attempt_at),
            "vault_document_id": (d.delivery or {}).get("vault_document_id")}


def _say(key: str, lang: str, **params: Any) -> str:
    """One frame of ``status`` (messages.CLI_TEXTS) in ``lang``."""
    from .messages import CLI_TEXTS

    return CLI_TEXTS.get(lang, CLI_TEXTS["en"])[key].format(**params)


def _when(stamp: Any, lang: str) -> str:
    """An ISO time as people read it: Luxembourg local time with the offset."""
    from .receipts import local_time

    return local_time(stamp, lang) if isinstance(stamp, str) and stamp else "-"


def _catalog_line(key: str, code: str, params: dict[str, Any], lang: str, **extra: Any) -> str:
    """A ``status`` line that carries the catalog message and hint of ``code``."""
    from .errors import CATALOG, render

    # A code this version does not know (a newer daemon's): said as it is, not misrendered.
    message, hint = render(code, params, lang) if code in CATALOG else ("", "")
    return _say(key, lang, code=code, message=message, hint=hint, **extra).rstrip()


def _identity_line(pc: str, ident: dict[str, Any], lang: str) -> str:
    """Why a doctor cannot sign, in the catalog's words; certificate dates in local time."""
    code = str(ident.get("reason") or "identity-locked")
    params = {"provider": pc, "detail": ident.get("detail") or "locked",
              "not_after": _when(ident.get("not_after"), lang),
              "not_before": _when(ident.get("not_before"), lang)}
    return _catalog_line("blocked", code, params, lang)


def _vault_line(vault: dict[str, Any], lang: str) -> str | None:
    """What the vault gate says (None while it is open)."""
    state = vault.get("state")
    default = {"unauthorized": "vault-unauthorized", "tls": "vault-tls",
               "outage": "vault-unavailable"}.get(str(state))
    if default is None:
        return None
    code = str(vault.get("reason") or default)
    params = vault.get("params")
    params = params if isinstance(params, dict) else {}
    if state == "outage":
        return _catalog_line("outage", code, params, lang,
                             when=_when(vault.get("next_probe_at"), lang))
    return _catalog_line("paused", code, params, lang)


def health_lines(health: dict[str, Any], pid: int | None, lang: str = "en") -> list[str]:
    """What ``status`` says about the daemon itself, from its health file, in ``lang``
    (codes kept for support). Pure."""
    out = [_say("running", lang, pid=pid) if pid else _say("not-running", lang)]
    if not pid:
        return out
    if health.get("storage", {}).get("paused"):
        out.append(_say("storage-paused", lang, reason=health["storage"].get("reason")))
    vault = health.get("vault")
    line = _vault_line(vault, lang) if isinstance(vault, dict) else None
    out += [line] if line else []
    identities = health.get("identities")
    if isinstance(identities, dict):
        for pc, ident in sorted(identities.items()):
            if isinstance(ident, dict) and ident.get("state") == "locked":
                out.append(_identity_line(pc, ident, lang))
    elif health.get("identities_locked"):  # a health file of an older daemon
        out.append(_say("blocked-list", lang, providers=", ".join(health["identities_locked"])))
    folders = health.get("folders")
    for name in ("outbox", "inbox"):
        f = folders.get(name) if isinstance(folders, dict) else None
        if isinstance(f, dict) and f.get("ok") is False:
            out.append(_catalog_line("folder", str(f.get("reason") or f"{name}-missing"),
                                     {"path": f.get("path")}, lang))
        elif f is None and health.get(f"{name}_missing"):
            out.append(_catalog_line("folder", f"{name}-missing", {}, lang))
    return out


def document_lines(counts: dict[str, int], waiting: list[Any], rows: list[Any],
                   lang: str) -> list[str]:
    """The documents part of ``status`` in ``lang``: counts by state (in the order a
    document goes through them), what waits and why, the latest. Stems, document
    numbers and codes as they are. Pure."""
    from .messages import CLI_REASONS, CLI_STATE_NAMES

    names = CLI_STATE_NAMES.get(lang, CLI_STATE_NAMES["en"])
    reasons = CLI_REASONS.get(lang, CLI_REASONS["en"])
    width = max(len(n) for n in names.values())
    order = {s: i for i, s in enumerate(names)}
    by_state = sorted(counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    out = [_say("counts", lang, counts=", ".join(f"{names.get(k, k)} {v}" for k, v in by_state)
                or _say("none-yet", lang))]
    if waiting:
        out.append(_say("waiting", lang))
        for d in waiting:
            why = d.reason or "-"
            if d.reason in reasons:
                why += f": {reasons[d.reason]}"
            if d.next_attempt_at:
                why += _say("next-try", lang, when=_when(_iso(d.next_attempt_at), lang))
            out.append(f"  {names.get(d.state.value, d.state.value):<{width}} {d.stem:<40} {why}")
    out.append(_say("latest", lang))
    for d in rows:
        out.append(f"  {_when(_iso(d.updated_at), lang)}  "
                   f"{names.get(d.state.value, d.state.value):<{width}} {d.stem:<40} "
                   f"{d.document_id or '-':<20} {d.reason or ''}".rstrip())
    return out


def cmd_status(args: argparse.Namespace) -> int:
    from .instancelock import holder
    from .statestore import Store

    cfg = _load(args)
    db = cfg.folders.work / "state.sqlite"
    if not db.exists():
        raise ConfigError(f"no state database at {db}: has econnector run yet?")
    pid = holder(cfg.folders.work)
    store = Store(db)
    try:
        counts = store.counts()
        rows = store.latest(args.limit)
        waiting = store.waiting(args.limit)
    finally:
        store.close()
    health = _daemon_health(cfg.folders.work)
    if args.json:
        print(json.dumps({
            "daemon": {**health, "running": pid is not None, "pid": pid},
            "counts": counts,
            "waiting": [_doc_json(d) for d in waiting],
            "documents": [_doc_json(d) for d in rows],
        }, indent=2))
        return 0
    lang = args.lang or cfg.default_language
    for line in [*health_lines(health, pid, lang), *document_lines(counts, waiting, rows, lang)]:
        print(line)
    return 0


def _daemon_health(work: Path) -> dict[str, Any]:
    try:
        doc = json.loads((work / "daemon-status.json").read_text("utf-8"))
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def cmd_vault(args: argparse.Namespace, rest: list[str]) -> int:
    try:
        from econnector_vault import server
    except ImportError:
        print("econnector: the reference vault is not installed; "
              "install 'econnector[local]' (make run does)", file=sys.stderr)
        return EXIT_CONFIG
    return server.main(rest)


def cmd_demo_setup(args: argparse.Namespace) -> int:
    from . import demo

    path = demo.setup(args.root)
    print(path)
    return 0


def demo_refusal(cfg: Config) -> str | None:
    """Why ``demo-drop`` must not drop into this config, or None: fake patients go only
    to the embedded ``local`` vault or under a TEST identity, never under a real
    doctor's code into a real vault (where they would be signed, delivered, billed)."""
    if cfg.vault.kind == "local":
        return None
    ident = cfg.identities[0]
    from . import testid
    from .errors import Held
    from .signer import read_identity

    try:
        is_test = testid.is_test_identity(read_identity(ident.provider_code, ident.pkcs12),
                                          ident.passphrase())
    except (OSError, ValueError, Held):
        is_test = False
    if is_test:
        return None
    return (f"demo-drop refuses this config: it would drop fake patients under provider "
            f"{ident.provider_code} ({ident.name}), not a TEST identity, into the vault "
            f"{cfg.vault.url}; use the embedded default (make run, data/econnector.yaml) or a "
            "config with vault kind local")


def cmd_demo_drop(args: argparse.Namespace) -> int:
    from . import demo

    cfg = _load(args)
    refusal = demo_refusal(cfg)
    if refusal:
        raise ConfigError(refusal)
    outbox = cfg.folders.outbox
    if not outbox.is_dir():
        root = cfg.folders.root
        if root is None or root not in outbox.parents:
            raise ConfigError(f"{outbox} does not exist (econnector creates only folders.root "
                              "and the folders inside it)", "folders.outbox")
        outbox.mkdir(parents=True, exist_ok=True)
    stems = demo.drop(outbox, args.count, cfg.identities[0].provider_code)
    print(f"dropped {len(stems)} documents into {outbox}; "
          f"receipts will appear in {cfg.folders.inbox}")
    return 0


def cmd_config_schema(args: argparse.Namespace) -> int:
    from .config import SCHEMA

    print(json.dumps(SCHEMA, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="econnector", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"econnector {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("run", help="run the daemon in the foreground")
    _add_config(s)
    s.set_defaults(func=cmd_run)
    s = sub.add_parser("status", help="documents by state, newest first")
    _add_config(s)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--limit", type=int, default=20, help="how many documents to list")
    s.add_argument("--lang", choices=("fr", "de", "en"), default=None,
                   help="language of the text (default: the config's "
                        "receipts.default_language; --json is always the same)")
    s.set_defaults(func=cmd_status)
    s = sub.add_parser("check-config", help="check the config, folders, identities and vault; "
                                            "exit 0 means ready")
    _add_config(s)
    s.add_argument("--offline", action="store_true",
                   help="do not contact the vault (the unit's ExecStartPre uses this)")
    s.set_defaults(func=cmd_check_config)
    s = sub.add_parser("vault", help="the reference vault server ('vault serve --help')",
                       add_help=False)
    s.set_defaults(func=None)
    s = sub.add_parser("demo-setup", help="create the embedded default under a folder")
    s.add_argument("--root", type=Path, default=Path("data"))
    s.set_defaults(func=cmd_demo_setup)
    s = sub.add_parser("demo-drop", help="drop sample documents into the outbox")
    _add_config(s)
    s.add_argument("--count", type=int, default=4)
    s.set_defaults(func=cmd_demo_drop)
    s = sub.add_parser("config-schema", help="print the config's JSON Schema")
    s.set_defaults(func=cmd_config_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["vault"]:
        rest = argv[1:]
        if rest[:1] == ["serve"]:
            rest = rest[1:]
        elif rest[:1] not in ([], ["-h"], ["--help"]):
            print("econnector: usage: econnector vault serve --help", file=sys.stderr)
            return EXIT_CONFIG
        return cmd_vault(argparse.Namespace(), rest)
    args = build_parser().parse_args(argv)
    try:
        rc = int(args.func(args))
        sys.stdout.flush()  # here, so a closed pipe (status | head) is caught below
        return rc
    except BrokenPipeError:
        # The reader left (``econnector status | head -3``): not an error. Point stdout
        # at /dev/null so the interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    except ConfigError as e:
        print(f"econnector: {e.message}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # one line for IT; the traceback with ECONNECTOR_DEBUG=1
        if os.environ.get("ECONNECTOR_DEBUG"):
            raise
        print(f"econnector: unexpected error: {type(e).__name__}: {e} "
              "(run with ECONNECTOR_DEBUG=1 for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
