"""``econnector patient-status MATRICULE``: a patient's digital status, asked at the desk.

Exit 0 with the status (green, blue, red) and what it means; 2 for a matricule that
is not one (or a config problem); 1 when the vault cannot answer. The matricule is
checked (format, birth date, both check digits) before anything is asked, and is
only ever printed masked.

The answer goes through the daemon's own cache (``work/state.sqlite``,
``patients.status_ttl_s``) unless ``--fresh``: the command then says what decides
the next delivery, and a fresh answer it gets is kept for the daemon too. The
daemon may run at the same time: the store is SQLite in WAL mode with a busy
timeout, so the two wait for each other's short writes instead of failing. Without
a state database yet (the daemon never ran) the vault is asked directly and
nothing is created.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Config
    from ..patients import Status

_LANGS = ("fr", "de", "en")
TIMEOUT = 20.0  # seconds for the vault's answer (as check-config)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``patient-status``."""
    from ..cli import _add_config

    p = sub.add_parser("patient-status",
                       help="a patient's digital status (green, blue, red) from the vault")
    p.add_argument("matricule", metavar="MATRICULE",
                   help="the patient's 13-digit national identification number")
    _add_config(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--lang", choices=_LANGS, default=None,
                   help="language of the text (default: the config's "
                        "receipts.default_language)")
    p.add_argument("--fresh", action="store_true",
                   help="ask the vault even when the daemon's cache holds a recent answer")
    p.set_defaults(func=cmd_patient_status)


def cmd_patient_status(args: argparse.Namespace) -> int:
    from .. import matricule
    from ..cli import EXIT_CONFIG, _load
    from ..errors import EconnectorError, Held, SidecarError, Transient, render
    from ..messages.patient_status import command_text

    cfg = _load(args)
    lang = args.lang or cfg.default_language
    number = str(args.matricule).strip()
    try:
        matricule.validate(number, dt.date.today())
    except SidecarError as e:
        message, _ = render(e.code, {"field": "matricule"}, lang)
        print(command_text("bad-matricule", lang, message=message), file=sys.stderr)
        return EXIT_CONFIG
    try:
        status = asyncio.run(_ask(cfg, number, fresh=args.fresh))
    except (Transient, Held, TimeoutError) as e:
        err = e if isinstance(e, EconnectorError) else None
        message = (render(err.code, err.params, lang)[0] if err is not None else
                   render("vault-unavailable", {"detail": f"no answer within {TIMEOUT:.0f} s"},
                          lang)[0])
        print(command_text("unreachable", lang, message=message), file=sys.stderr)
        return 1
    except EconnectorError as e:  # the vault refused the question itself
        print(command_text("refused", lang, message=render(e.code, e.params, lang)[0]),
              file=sys.stderr)
        return 1
    doc = answer(number, status)
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        print("\n".join(lines(doc, lang)))
    return 0


async def _ask(cfg: Config, number: str, *, fresh: bool) -> Status:
    """The status through the daemon's cache (or the vault alone, see the module)."""
    from ..patients import PatientStatuses, Status
    from ..statestore import Store
    from ..vault_transport import make_vault_client

    db = cfg.folders.work / "state.sqlite"
    store = Store(db) if db.is_file() else None
    client = make_vault_client(cfg)
    try:
        if store is not None and not fresh:
            statuses = PatientStatuses(store, lambda: client, cfg.patients.status_ttl,
                                       time.time)
            return await asyncio.wait_for(statuses.status(number), TIMEOUT)
        value = await asyncio.wait_for(client.digital_status(number), TIMEOUT)
        now = time.time()
        if store is not None:
            store.cache_status(number, value, now)
        return Status(value, now, cached=False)
    finally:
        await client.aclose()
        if store is not None:
            store.close()


def answer(number: str, status: Status) -> dict[str, Any]:
    """What ``--json`` prints: the answer file's fields that concern the patient. Pure."""
    from .. import matricule
    from ..messages.patient_status import meanings
    from ..receipts import iso

    return {
        "matricule_masked": matricule.mask(number),
        "status": status.status,
        "meaning": meanings(status.status),
        "checked_at": iso(status.checked_at),
        "from_cache": status.cached,
    }


def lines(doc: dict[str, Any], lang: str) -> list[str]:
    """The text for people, in ``lang``. Pure."""
    from ..messages.patient_status import command_text, meaning, query_text
    from ..receipts import local_time

    source = query_text("from-cache" if doc["from_cache"] else "asked-now", lang)
    return [
        command_text("status", lang, masked=doc["matricule_masked"],
                     meaning=meaning(doc["status"], lang)),
        command_text("checked", lang, when=local_time(doc["checked_at"], lang), source=source),
    ]
