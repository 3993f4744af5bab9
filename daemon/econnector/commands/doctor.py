"""``econnector doctor``: one line per check of this installation (doctor.py), in the
staff's language, or ``--json``; exit 0 all ok, 1 warnings only, 2 any failure.

A config that does not load is one failure line, not a traceback: the other checks
need it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from ..doctor import FAIL, Check, exit_code
from ..errors import ConfigError

_LANGS = ("fr", "de", "en")
_LABEL = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}  # for scripts: the same everywhere


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``doctor``."""
    from ..cli import _add_config

    p = sub.add_parser("doctor", help="check-config plus the running machine: daemon, "
                                      "heartbeat, clock, disk, file systems, inotify, "
                                      "secret files, certificates; exit 0 ok, 1 warnings, "
                                      "2 failures")
    _add_config(p)
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.add_argument("--offline", action="store_true", help="do not contact the vault")
    p.add_argument("--lang", choices=_LANGS, default=None,
                   help="language of the text (default: the config's "
                        "receipts.default_language)")
    p.set_defaults(func=cmd_doctor)


def message(check: Check, lang: str) -> str:
    """The check's text in ``lang`` (keys joined by ``+``: one after the other)."""
    from ..messages.doctor_command import DOCTOR_MOVES, DOCTOR_TEXTS

    texts = DOCTOR_TEXTS.get(lang, DOCTOR_TEXTS["en"])
    params = dict(check.params)
    if "what" in params and check.key == "fs-split":
        params["what"] = DOCTOR_MOVES.get(lang, DOCTOR_MOVES["en"]).get(
            str(params["what"]), params["what"])
    return ", ".join(texts[k].format(**params) for k in check.key.split("+"))


def line(check: Check, lang: str) -> str:
    """``ok    clock: synchronised (chrony), 0.4 s from the vault``."""
    from ..messages.doctor_command import DOCTOR_NAMES

    name = DOCTOR_NAMES.get(lang, DOCTOR_NAMES["en"]).get(check.name, check.name)
    return f"{_LABEL[check.status]:<5} {name}: {message(check, lang)}"


def document(checks: Sequence[Check], lang: str) -> dict[str, object]:
    return {"checks": [{"name": c.name, "status": c.status, "message": message(c, lang),
                        "params": dict(c.params)} for c in checks],
            "exit": exit_code(checks)}


def cmd_doctor(args: argparse.Namespace) -> int:
    from .. import doctor
    from ..cli import _load

    try:
        cfg = _load(args)
    except ConfigError as e:
        checks = [Check("config", FAIL, "config-unloadable", {"detail": e.message})]
        lang = args.lang or "en"
    else:
        lang = args.lang or cfg.default_language
        checks = doctor.run(cfg, offline=args.offline)
    if args.json:
        print(json.dumps(document(checks, lang), indent=2, ensure_ascii=False))
    else:
        for check in checks:
            print(line(check, lang), flush=True)
    return exit_code(checks)
