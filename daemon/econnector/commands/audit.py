"""``econnector audit verify | show | export``: the audit trail (audit.py, docs/audit.md).

``verify`` exits 0 when the trail is intact, 1 when it names a defect (the first edited,
deleted, inserted or reordered entry, or an anchor that does not hold), 2 for a config
problem (or no trail yet). Nothing here writes to the trail: reading it never changes
what it proves. Patients' numbers are masked in everything printed or exported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..audit import AuditTrail, Entry
    from ..config import Config

_LANGS = ("fr", "de", "en")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit`` and its three subcommands."""
    from ..cli import _add_config

    p = sub.add_parser("audit", help="the tamper-evident audit trail: verify, show, export")
    verbs = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    lang_help = "language of the text (default: the config's receipts.default_language)"

    v = verbs.add_parser("verify", help="check the hash chain and its timestamps; exit 0 "
                                        "intact, 1 damaged (the first defect is named)")
    _add_config(v)
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.add_argument("--lang", choices=_LANGS, default=None, help=lang_help)
    v.set_defaults(func=cmd_verify)

    s = verbs.add_parser("show", help="one document's trail, in time order")
    s.add_argument("document_id", metavar="DOCUMENT_ID")
    s.add_argument("--provider", metavar="CODE", default=None,
                   help="only the document of this provider code")
    _add_config(s)
    s.add_argument("--json", action="store_true", help="machine-readable output (JSON lines)")
    s.add_argument("--lang", choices=_LANGS, default=None, help=lang_help)
    s.set_defaults(func=cmd_show)

    e = verbs.add_parser("export", help="the entries of a period as JSON lines, patients' "
                                        "numbers masked")
    e.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD",
                   help="first day (Luxembourg time)")
    e.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD",
                   help="last day, included")
    e.add_argument("--output", type=Path, default=None, metavar="FILE",
                   help="write here (atomically) instead of standard output")
    _add_config(e)
    e.add_argument("--lang", choices=_LANGS, default=None, help=lang_help)
    e.set_defaults(func=cmd_export)


def _say(key: str, lang: str, **params: object) -> str:
    from ..messages.audit_command import AUDIT_TEXTS

    return AUDIT_TEXTS.get(lang, AUDIT_TEXTS["en"])[key].format(**params)


def _open(args: argparse.Namespace) -> tuple[Config, AuditTrail, str]:
    """The config, the trail (which must exist: reading never creates it), the language."""
    from ..audit import AuditTrail, trail_path
    from ..cli import _load

    cfg = _load(args)
    lang = getattr(args, "lang", None) or cfg.default_language
    path = trail_path(cfg)
    if not path.is_file():
        raise ConfigError(_say("no-trail", lang, path=path))
    return cfg, AuditTrail(path), lang


def cmd_verify(args: argparse.Namespace) -> int:
    from ..receipts import local_time
    from ..signer import read_trust_roots

    cfg, trail, lang = _open(args)
    try:
        roots = read_trust_roots(cfg.signing.trust_roots)
    except ValueError as e:
        raise ConfigError(f"signing.trust_roots: {e}", "signing.trust_roots") from None
    try:
        report = trail.verify(roots)
    finally:
        trail.close()
    if args.json:
        print(json.dumps({**report.as_json(), "path": str(trail.path)}, indent=2))
    elif report.defect is not None:
        print(_say(report.defect.what, lang, seq=report.defect.seq, path=trail.path))
    elif report.last_anchored_at is not None:
        print(_say("intact", lang, entries=report.entries, anchors=report.anchors,
                   anchored=local_time(report.last_anchored_at.isoformat(), lang)))
    else:
        print(_say("intact-unanchored", lang, entries=report.entries))
    return 0 if report.ok else 1


def _details(e: Entry) -> str:
    """An entry's data as ``key=value`` pairs, nested keys dotted, masked, None left out."""
    from ..audit import masked

    parts: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k in sorted(value):
                walk(f"{prefix}.{k}" if prefix else str(k), value[k])
        elif value is not None and value != "":
            parts.append(f"{prefix}={value}")

    walk("", masked(e.data))
    return " ".join(parts)


def cmd_show(args: argparse.Namespace) -> int:
    from ..audit import export_lines
    from ..messages.audit_command import KIND_TEXTS
    from ..receipts import local_time

    _cfg, trail, lang = _open(args)
    try:
        entries = trail.entries(document_id=args.document_id, provider_code=args.provider)
    finally:
        trail.close()
    if args.json:
        for line in export_lines(entries):
            print(line)
        return 0
    if not entries:
        print(_say("show-none", lang, document=args.document_id))
        return 1
    print(_say("show-head", lang, document=args.document_id, count=len(entries)))
    kinds = KIND_TEXTS.get(lang, KIND_TEXTS["en"])
    for e in entries:
        when = local_time(dt.datetime.fromtimestamp(e.at, dt.UTC).isoformat(), lang)
        print(f"  #{e.seq}  {when}  {kinds.get(e.kind, e.kind)}  {_details(e)}".rstrip())
    return 0


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def cmd_export(args: argparse.Namespace) -> int:
    from .. import fsio
    from ..audit import export_lines
    from ..receipts import LOCAL_ZONE

    _cfg, trail, lang = _open(args)
    try:
        try:
            start, end = _day(args.start), _day(args.end)
        except ValueError:
            start, end = dt.date.max, dt.date.min
        if start > end:
            raise ConfigError(_say("bad-dates", lang))

        def midnight(d: dt.date) -> float:
            return dt.datetime.combine(d, dt.time(), LOCAL_ZONE).timestamp()

        entries = trail.entries(since=midnight(start),
                                until=midnight(end + dt.timedelta(days=1)))
    finally:
        trail.close()
    text = "".join(line + "\n" for line in export_lines(entries))
    if args.output is None:
        sys.stdout.write(text)
        return 0
    fsio.write_text(args.output, text)
    print(_say("exported", lang, count=len(entries), start=start.isoformat(),
               end=end.isoformat(), path=args.output))
    return 0
