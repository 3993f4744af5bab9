"""Command line: run, status, check-config, vault serve, demo-setup, demo-drop.

Practice IT never reads a stack trace: expected failures print one line
``econnector: <reason>`` and exit non-zero (2 for configuration and folders,
1 for anything else).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ConfigError

EXIT_CONFIG = 2


def default_config_path() -> Path:
    env = os.environ.get("ECONNECTOR_CONFIG")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.site_config_dir("econnector")) / "econnector.yaml"


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, default=None,
                   help="config file (default: $ECONNECTOR_CONFIG or the system config folder)")


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
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
    problems = config.check_usable(cfg)
    if problems:
        raise ConfigError(problems[0])
    # One daemon per set of folders; the descriptor stays open (locked) until we exit.
    instancelock.acquire(cfg.folders.work)
    filemodes.set_policy(filemodes.policy_for(cfg.folders, config.folder_gid(cfg)))
    from . import daemon, logs

    logs.configure(cfg.log_file, cfg.log_level)
    return asyncio.run(daemon.serve(cfg))


def cmd_check_config(args: argparse.Namespace) -> int:
    from . import config

    cfg = _load(args)
    problems = config.check_usable(cfg)
    for p in problems:
        print(f"econnector: {p}", file=sys.stderr)
    if problems:
        return EXIT_CONFIG
    from .errors import Held
    from .signer import identity_info

    locked = 0
    for ident in cfg.identities:
        try:
            info = identity_info(ident.provider_code, ident.pkcs12, ident.passphrase())
            print(f"identity {ident.provider_code}: unlocked ({info.subject}, "
                  f"valid until {info.not_after[:10]})")
        except (Held, OSError, KeyError) as e:
            locked += 1
            why = e.message if isinstance(e, Held) else "passphrase not available"
            print(f"identity {ident.provider_code}: LOCKED - {why}")
    print(f"config ok: {cfg.path}; outbox {cfg.folders.outbox}; vault {cfg.vault.kind}"
          + (f" {cfg.vault.url}" if cfg.vault.url else ""))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .store import Store

    cfg = _load(args)
    db = cfg.folders.work / "state.sqlite"
    if not db.exists():
        raise ConfigError(f"no state database at {db}: has econnector run yet?")
    store = Store(db)
    try:
        counts = store.counts()
        rows = store.latest(args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps({
            "daemon": _daemon_health(cfg.folders.work),
            "counts": counts,
            "documents": [
                {"id": d.id, "file": d.stem, "document_id": d.document_id, "state": d.state.value,
                 "reason": d.reason, "attempts": d.attempts, "updated_at": d.updated_at,
                 "vault_document_id": (d.delivery or {}).get("vault_document_id")}
                for d in rows
            ],
        }, indent=2))
        return 0
    health = _daemon_health(cfg.folders.work)
    if health.get("storage", {}).get("paused"):
        print(f"PAUSED: storage unusable ({health['storage']['reason']}); "
              "documents are kept and resume by themselves")
    vault = health.get("vault", {})
    if vault.get("state") == "unauthorized":
        print("PAUSED: the vault refuses econnector's credentials; check the vault token")
    elif vault.get("state") == "outage":
        print(f"vault unavailable ({vault.get('message')}); next try {vault.get('next_probe_at')}")
    if health.get("identities_locked"):
        print("signing identities locked: " + ", ".join(health["identities_locked"]))
    if health.get("outbox_missing"):
        print("the outbox folder is missing or unreadable")
    print("documents by state: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                                    or "none yet"))
    from .pipeline import iso

    for d in rows:
        print(f"{iso(d.updated_at)}  {d.state.value:<13} {d.stem:<40} "
              f"{d.document_id or '-':<20} {d.reason or ''}")
    return 0


def _daemon_health(work: Path) -> dict[str, Any]:
    try:
        doc = json.loads((work / "daemon-status.json").read_text("utf-8"))
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def cmd_vault(args: argparse.Namespace, rest: list[str]) -> int:
    from .vault import server

    return server.main(rest)


def cmd_demo_setup(args: argparse.Namespace) -> int:
    from . import demo

    path = demo.setup(args.root)
    print(path)
    return 0


def cmd_demo_drop(args: argparse.Namespace) -> int:
    from . import demo

    cfg = _load(args)
    cfg.folders.outbox.mkdir(parents=True, exist_ok=True)
    stems = demo.drop(cfg.folders.outbox, args.count, cfg.identities[0].provider_code)
    print(f"dropped {len(stems)} documents into {cfg.folders.outbox}; "
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
    s.set_defaults(func=cmd_status)
    s = sub.add_parser("check-config", help="validate the config, folders and identities")
    _add_config(s)
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
        return int(args.func(args))
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
