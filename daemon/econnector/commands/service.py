"""``econnector service install | remove | start | stop``: the Windows service.

Windows only (:mod:`..winservice`, pywin32; NOT RUN on Windows in this project).
Elsewhere the answer is that systemd runs econnector (docs/install-linux.md), exit
2, before anything is loaded or imported. ``install`` records the config's path in
the service's settings and runs the service as ``--account`` (a dedicated local
account or a gMSA), by default its own virtual account ``NT SERVICE\\<name>``, never
LocalSystem. A password, when the account needs one, is asked on the terminal (or
read from the first line of standard input), never taken as an argument.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_LANGS = ("fr", "de", "en")
ACTIONS = ("install", "remove", "start", "stop")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``service``."""
    from ..cli import _add_config
    from ..winservice import SERVICE_NAME

    p = sub.add_parser("service", help="install, remove, start or stop the Windows service "
                                       "(on Linux: the systemd unit, docs/install-linux.md)")
    p.add_argument("action", choices=ACTIONS)
    _add_config(p)
    p.add_argument("--name", default=SERVICE_NAME,
                   help=f"the service's name (default {SERVICE_NAME}; one per practice)")
    p.add_argument("--account", default=None,
                   help="install: the account the service runs as, e.g. .\\econnector or "
                        "DOMAIN\\econnector$ (a gMSA); default NT SERVICE\\<name>; never "
                        "LocalSystem")
    p.add_argument("--lang", choices=_LANGS, default=None,
                   help="language of the text (default: the config's "
                        "receipts.default_language)")
    p.set_defaults(func=cmd_service)


def _lang(args: argparse.Namespace) -> str:
    if args.lang:
        return str(args.lang)
    from ..cli import _load
    from ..errors import ConfigError

    try:
        return _load(args).default_language
    except (ConfigError, OSError):
        return "en"


def cmd_service(args: argparse.Namespace) -> int:
    from ..cli import EXIT_CONFIG, default_config_path
    from ..messages.service_command import service_text

    lang = _lang(args)
    if sys.platform != "win32":
        print(service_text("not-windows", lang), file=sys.stderr)
        return EXIT_CONFIG
    from .. import winservice

    try:
        import win32serviceutil  # noqa: F401 - present, or the answer below
    except ImportError:
        print(service_text("no-pywin32", lang), file=sys.stderr)
        return EXIT_CONFIG
    name = str(args.name)
    try:
        if args.action == "install":
            config = Path(args.config or default_config_path()).absolute()
            if not config.is_file():
                print(service_text("no-config", lang, config=config), file=sys.stderr)
                return EXIT_CONFIG
            account = args.account or winservice.default_account(name)
            if winservice.account_refusal(account):
                print(service_text("localsystem", lang,
                                   default=winservice.default_account(name)), file=sys.stderr)
                return EXIT_CONFIG
            password = None
            if winservice.needs_password(account):
                from ..cli import _read_pin

                password = _read_pin(service_text("password", lang, account=account))
            winservice.install(name, config, account, password)
            print(service_text("installed", lang, name=name, account=account, config=config))
        elif args.action == "remove":
            winservice.remove(name)
            print(service_text("removed", lang, name=name))
        elif args.action == "start":
            winservice.start(name)
            print(service_text("started", lang, name=name))
        else:
            winservice.stop(name)
            print(service_text("stopped", lang, name=name))
    except Exception as e:  # pywintypes.error: the service manager's reason, one line
        detail = getattr(e, "strerror", None) or str(e)
        print(service_text("failed", lang, action=args.action, name=name, detail=detail),
              file=sys.stderr)
        return 1
    return 0
