"""Command line: run, status, check-config, unlock, lock, vault serve, demo-setup, demo-drop.

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
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config

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
    from .starting import start_daemon

    return start_daemon(args.config)


# -- check-config --------------------------------------------------------------------------


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
    from .identities import check_identity
    from .signcheck import check_signing
    from .vault_transport import local_problem

    cfg = _load(args)
    problems = config.check_usable(cfg)
    warnings: list[str] = []
    lines: list[str] = []
    now = dt.datetime.now(dt.UTC)
    judged: set[str] = set()  # identities that already failed: said once
    for ident in cfg.identities:
        if ident.pkcs12 is not None and not ident.pkcs12.is_file():
            continue  # reported by check_usable
        if ident.pkcs11 is not None and not ident.pkcs11.module.is_file():
            continue  # reported by check_usable
        line, problem, warning = check_identity(ident, now)
        lines.append(line)
        problems += [problem] if problem else []
        warnings += [warning] if warning else []
        if problem:
            judged.add(ident.provider_code)
    # The signatures themselves: trust roots, the TSA, each certificate's status.
    sig_lines, sig_problems, sig_warnings = check_signing(cfg, now, offline=args.offline,
                                                          skip=judged)
    lines += sig_lines
    problems += sig_problems
    warnings += sig_warnings
    if cfg.vault.kind == "local" and (missing := local_problem()) is not None:
        problems.append(str(missing))
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


def cmd_status(args: argparse.Namespace) -> int:
    from . import health
    from .instancelock import holder
    from .statestore import Store
    from .statusview import doc_json, document_lines, health_lines

    cfg = _load(args)
    db = cfg.folders.work / "state.sqlite"
    if not db.exists():
        raise ConfigError(f"no state database at {db}: has econnector run yet?")
    pid = holder(cfg.folders.work)
    store = Store(db)
    try:
        counts = store.counts()
        opened = store.opened_count()
        rows = store.latest(args.limit)
        waiting = store.waiting(args.limit)
    finally:
        store.close()
    daemon = health.read(cfg.folders.work)
    if args.json:
        print(json.dumps({
            "daemon": {**daemon, "running": pid is not None, "pid": pid},
            "counts": counts,
            "opened": opened,
            "waiting": [doc_json(d) for d in waiting],
            "documents": [doc_json(d) for d in rows],
        }, indent=2))
        return 0
    lang = args.lang or cfg.default_language
    now = dt.datetime.now(dt.UTC)
    for line in [*health_lines(daemon, pid, lang, now),
                 *document_lines(counts, waiting, rows, lang, opened)]:
        print(line)
    return 0


# -- unlock and lock: the doctor's PIN to the running daemon -------------------------------


def _unlock_text(key: str, lang: str, **params: object) -> str:
    from .messages.unlock_command import UNLOCK_TEXTS

    return UNLOCK_TEXTS.get(lang, UNLOCK_TEXTS["en"])[key].format(**params)


def _read_pin(prompt: str) -> str:
    """The PIN from the terminal without echo, or the first line of standard input when
    it is not a terminal (scripts, tests). Never an argument: argv is public."""
    import getpass

    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(prompt)
    return (sys.stdin.readline() if sys.stdin is not None else "").rstrip("\r\n")


def _ask(cfg: Config, doc: dict[str, object], lang: str) -> dict[str, object] | int:
    """The daemon's answer, or the exit code after saying why there is none."""
    from . import control

    try:
        return control.request(cfg, doc)
    except control.NoDaemon as e:
        print(_unlock_text("no-daemon", lang, path=e.path), file=sys.stderr)
    except control.NoAccess as e:
        print(_unlock_text("no-access", lang, path=e.path), file=sys.stderr)
    except control.NoAnswer as e:
        print(_unlock_text("no-answer", lang, path=e.path), file=sys.stderr)
    return EXIT_CONFIG


def unlock_answer(answer: dict[str, object], provider: str, lang: str) -> tuple[str, int]:
    """(text, exit code) of the daemon's answer to an unlock. Pure."""
    from .messages import phrase

    result = str(answer.get("result"))
    detail = phrase(str(answer.get("detail") or ""), lang)
    if result == "unlocked":
        return _unlock_text("unlocked", lang, provider=provider), 0
    if result == "wrong-pin":
        key = {"few": "wrong-pin-few", "one": "wrong-pin-one",
               "none": "pin-blocked"}.get(str(answer.get("tries_left")), "wrong-pin")
        return _unlock_text(key, lang, provider=provider), 1
    if result in ("token-absent", "unknown-provider", "not-manual"):
        return _unlock_text(result, lang, provider=provider), 1
    if result == "locked":
        return _unlock_text("refused", lang, provider=provider, detail=detail), 1
    if result == "cannot-sign":
        return _unlock_text("cannot-sign", lang, provider=provider, detail=detail,
                            reason=answer.get("reason")), 1
    return _unlock_text("bad-answer", lang, result=result), 1


def cmd_unlock(args: argparse.Namespace) -> int:
    cfg = _load(args)
    lang = args.lang or cfg.default_language
    pc = args.provider
    ident = cfg.identity(pc)
    if ident is None or not ident.manual:
        key = "unknown-provider" if ident is None else "not-manual"
        print(_unlock_text(key, lang, provider=pc))
        return 1
    # A daemon to hand the PIN to, before the doctor types it for nothing.
    found = _ask(cfg, {"op": "status"}, lang)
    if isinstance(found, int):
        return found
    pin = _read_pin(_unlock_text("prompt", lang, provider=pc, name=ident.name))
    if not pin:
        print(_unlock_text("empty-pin", lang))
        return 1
    answer = _ask(cfg, {"op": "unlock", "provider": pc, "pin": pin}, lang)
    del pin
    if isinstance(answer, int):
        return answer
    text, rc = unlock_answer(answer, pc, lang)
    print(text)
    return rc


def cmd_lock(args: argparse.Namespace) -> int:
    cfg = _load(args)
    lang = args.lang or cfg.default_language
    pc = args.provider
    if pc is not None:
        ident = cfg.identity(pc)
        if ident is None or not ident.manual:
            key = "unknown-provider" if ident is None else "not-manual"
            print(_unlock_text(key, lang, provider=pc))
            return 1
    elif not any(i.manual for i in cfg.identities):
        print(_unlock_text("locked-none", lang))
        return 0
    answer = _ask(cfg, {"op": "lock", "provider": pc}, lang)
    if isinstance(answer, int):
        return answer
    providers = answer.get("providers")
    if answer.get("result") != "locked" or not isinstance(providers, list):
        print(_unlock_text("bad-answer", lang, result=answer.get("result")))
        return 1
    print(_unlock_text("locked", lang, providers=", ".join(map(str, providers))))
    return 0


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
    if ident.pkcs12 is None:
        return None  # a key on a token is never the TEST identity
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


def installed_version() -> str:
    """The installed distribution's version (what pip or pipx installed), else the
    package's own (a source tree run without installing)."""
    from importlib import metadata

    try:
        return metadata.version("econnector")
    except metadata.PackageNotFoundError:
        return __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="econnector", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"econnector {installed_version()}")
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
    lang_help = "language of the text (default: the config's receipts.default_language)"
    s = sub.add_parser("unlock", help="unlock a doctor's signing key (unlock: manual): asks "
                                      "the PIN and hands it to the running daemon")
    s.add_argument("provider", metavar="PROVIDER_CODE")
    _add_config(s)
    s.add_argument("--lang", choices=("fr", "de", "en"), default=None, help=lang_help)
    s.set_defaults(func=cmd_unlock)
    s = sub.add_parser("lock", help="lock one doctor's signing key, or all manual ones: "
                                    "their documents wait until the next unlock")
    s.add_argument("provider", metavar="PROVIDER_CODE", nargs="?", default=None)
    _add_config(s)
    s.add_argument("--lang", choices=("fr", "de", "en"), default=None, help=lang_help)
    s.set_defaults(func=cmd_lock)
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
    from .commands import register_all

    register_all(sub)
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
