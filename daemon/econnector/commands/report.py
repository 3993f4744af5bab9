"""``econnector report --quarter 2026Q4``: the quarterly fee statement (ledger.py,
docs/fees.md).

Writes ``econnector-fees-<quarter>[-<provider>].csv`` (one row per delivered document)
and ``.txt`` (a summary in the staff's language: counts and fees by doctor, document
type, insurer and assistant), then, unless ``--offline``, compares the ledger with the
vault's ``GET /v1/billing/activity`` for each doctor and lists every difference (in the
summary and in ``-mismatches.csv``). Exit 0 when everything matches (or ``--offline``),
1 when there are differences, 2 for a config problem or a vault that cannot be asked
(then nothing is written: a statement must say whether it was checked).

Before reading the ledger, the delivered documents of the state store it lacks are
recorded (ledger.catch_up), so a statement made while the daemon was down after a
crash is still complete.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import io
import re
import sqlite3
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Config
    from ..ledger import Fee, Group, Mismatch, Summary

_LANGS = ("fr", "de", "en")
VAULT_TIMEOUT = 30.0  # per doctor's billing request, on top of the client's own timeouts
_PROVIDER_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # it becomes part of a file name

FEE_COLUMNS = ("vault_document_id", "provider_code", "document_id", "type", "insurer",
               "submitted_by", "amount", "currency", "recorded_at", "quarter", "drop_id")
MISMATCH_COLUMNS = ("kind", "provider_code", "vault_document_id", "document_id", "type",
                    "recorded_at", "ledger_amount", "ledger_currency", "vault_amount",
                    "vault_currency")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report``."""
    from ..cli import _add_config

    p = sub.add_parser("report", help="the quarter's fee statement (CSV and summary), "
                                      "compared with the vault's billing; exit 0 all match, "
                                      "1 differences, 2 config or vault problem")
    p.add_argument("--quarter", required=True, metavar="YYYYQN",
                   help="the quarter, e.g. 2026Q4 (counted in UTC, as the vault bills)")
    p.add_argument("--provider", metavar="CODE", default=None,
                   help="only this doctor's documents (default: every doctor)")
    p.add_argument("--output", type=Path, default=None, metavar="DIR",
                   help="folder for the files (default: the current folder)")
    p.add_argument("--offline", action="store_true",
                   help="do not compare with the vault's billing")
    p.add_argument("--lang", choices=_LANGS, default=None,
                   help="language of the summary (default: the config's "
                        "receipts.default_language)")
    _add_config(p)
    p.set_defaults(func=cmd_report)


def _say(key: str, lang: str, **params: object) -> str:
    from ..messages.report_command import REPORT_TEXTS

    return REPORT_TEXTS.get(lang, REPORT_TEXTS["en"])[key].format(**params)


# -- the files (pure) ---------------------------------------------------------------------


def _cell(value: object) -> str:
    """A CSV cell; text a spreadsheet would run as a formula starts with a quote."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180, as spreadsheets expect
    w.writerow(header)
    for row in rows:
        w.writerow(row)
    return buf.getvalue()


def fees_csv(fees: Sequence[Fee]) -> str:
    """One row per document, the amount as a decimal (``0.30``)."""
    from ..ledger import money

    return _csv(FEE_COLUMNS, [
        [_cell(f.vault_document_id), _cell(f.provider_code), _cell(f.document_id),
         _cell(f.type), _cell(f.insurer), _cell(f.submitted_by), money(f.amount),
         _cell(f.currency), f.recorded_at, f.quarter,
         "" if f.drop_id is None else str(f.drop_id)]
        for f in fees])


def mismatches_csv(mismatches: Sequence[Mismatch]) -> str:
    return _csv(MISMATCH_COLUMNS, [
        [m.kind, _cell(m.provider_code), _cell(m.vault_document_id), _cell(m.document_id),
         _cell(m.type), _cell(m.recorded_at), m.ledger_amount or "", m.ledger_currency or "",
         _cell(m.vault_amount), _cell(m.vault_currency)]
        for m in mismatches])


@dataclass(frozen=True)
class Comparison:
    """What the vault's billing said: where it was asked, and every difference."""

    where: str
    mismatches: list[Mismatch]


def _fees_text(totals: Mapping[str, Decimal]) -> str:
    from ..ledger import money

    if not totals:
        return "0.00"
    return " + ".join(f"{money(v)} {cur}".rstrip() for cur, v in sorted(totals.items()))


def _table(title: str, groups: Sequence[Group], label: Mapping[str, str], lang: str
           ) -> list[str]:
    from ..names import shown

    rows = [(shown(label.get(g.key, g.key), 80), str(g.count), _fees_text(g.totals))
            for g in groups]
    head = ("", _say("col-count", lang), _say("col-fees", lang))
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    out = [title, f"  {head[0]:<{w[0]}}  {head[1]:>{w[1]}}  {head[2]:>{w[2]}}".rstrip()]
    out += [f"  {a:<{w[0]}}  {b:>{w[1]}}  {c:>{w[2]}}" for a, b, c in rows]
    return [*out, ""]


def mismatch_line(m: Mismatch, lang: str, type_labels: Mapping[str, str]) -> str:
    from ..names import shown
    from ..receipts import local_time

    unknown = _say("unknown", lang)

    def fee(amount: str | None, currency: str | None) -> str:
        return f"{amount} {currency or ''}".rstrip() if amount else unknown

    return _say(m.kind, lang, provider=shown(m.provider_code, 64),
                document=shown(m.document_id, 80) if m.document_id else unknown,
                type=type_labels.get(m.type, shown(m.type, 40)) if m.type else unknown,
                when=local_time(m.recorded_at, lang) if m.recorded_at else unknown,
                vault_id=shown(m.vault_document_id, 80),
                ledger_fee=fee(m.ledger_amount, m.ledger_currency),
                vault_fee=fee(m.vault_amount, m.vault_currency))


def summary_text(summary: Summary, lang: str, made_at: dt.datetime,
                 doctors: Mapping[str, str], comparison: Comparison | None) -> str:
    """The readable statement in ``lang``: totals, the four tables, the comparison with
    the vault (``None``: not compared, ``--offline``)."""
    from ..messages.report_command import TYPE_LABELS
    from ..receipts import local_time

    types = TYPE_LABELS.get(lang, TYPE_LABELS["en"])
    scope = (_say("scope-one", lang, provider=summary.provider_code)
             if summary.provider_code else _say("scope-all", lang))
    lines = [_say("title", lang, quarter=summary.quarter, scope=scope),
             _say("made", lang, when=local_time(made_at.isoformat(), lang)), ""]
    if summary.count == 0:
        lines += [_say("empty", lang, quarter=summary.quarter), ""]
    else:
        lines += [_say("total-one" if summary.count == 1 else "total", lang,
                       count=summary.count, fees=_fees_text(summary.totals)), ""]
        names = {pc: f"{pc} {name}".rstrip() for pc, name in doctors.items()}
        lines += _table(_say("by-doctor", lang), summary.by_doctor, names, lang)
        lines += _table(_say("by-type", lang), summary.by_type, types, lang)
        lines += _table(_say("by-insurer", lang), summary.by_insurer, {}, lang)
        lines += _table(_say("by-assistant", lang), summary.by_assistant, {}, lang)
    if comparison is None:
        lines.append(_say("offline", lang))
    elif not comparison.mismatches:
        lines.append(_say("match", lang, url=comparison.where))
    else:
        count = len(comparison.mismatches)
        lines.append(_say("mismatches-one" if count == 1 else "mismatches", lang,
                          url=comparison.where, count=count))
        lines += [f"- {mismatch_line(m, lang, types)}" for m in comparison.mismatches]
        lines += ["", *textwrap.wrap(_say("advice", lang), 88, break_on_hyphens=False)]
    return "\n".join(lines).rstrip("\n") + "\n"


# -- the vault ----------------------------------------------------------------------------


def _billing(cfg: Config, quarter: str, providers: Sequence[str], lang: str
             ) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """The vault's fee records of each provider in ``quarter``; where they were asked.
    A vault that cannot answer is a ConfigError (exit 2) saying so in ``lang``."""
    from ..errors import EconnectorError, render
    from ..vault_transport import make_vault_client

    async def ask() -> tuple[str, dict[str, list[dict[str, Any]]]]:
        client = make_vault_client(cfg)
        where = (str(cfg.vault.data_dir) if cfg.vault.kind == "local"
                 else client.base_url)
        out: dict[str, list[dict[str, Any]]] = {}
        try:
            for pc in providers:
                try:
                    body = await asyncio.wait_for(client.billing_activity(quarter, pc),
                                                  VAULT_TIMEOUT)
                except TimeoutError:
                    raise ConfigError(_say("vault-timeout", lang, provider=pc,
                                           seconds=f"{VAULT_TIMEOUT:.0f}")) from None
                except ConfigError:
                    raise
                except EconnectorError as e:
                    if e.code == "vault-unauthorized":
                        raise ConfigError(_say("vault-refused", lang, provider=pc,
                                               status=e.params.get("status"))) from None
                    detail = render(e.code, e.params, lang)[0]
                    raise ConfigError(_say("vault-failed", lang, provider=pc,
                                           detail=f"{detail} ({e.code})")) from None
                records = body.get("records")
                if not isinstance(records, list) or not all(
                        isinstance(r, dict) for r in records):
                    raise ConfigError(_say("vault-failed", lang, provider=pc,
                                           detail="malformed answer (records)"))
                out[pc] = records
        finally:
            await client.aclose()
        return where, out

    return asyncio.run(ask())


# -- the command --------------------------------------------------------------------------


def _read_ledger(cfg: Config, quarter: str, provider: str | None, lang: str) -> list[Fee]:
    from ..ledger import Ledger, catch_up, ledger_path
    from ..statestore import Store

    path = ledger_path(cfg)
    state = cfg.folders.work / "state.sqlite"
    if not path.exists() and not state.exists():
        raise ConfigError(_say("no-ledger", lang, path=path))
    ledger = Ledger(path)
    try:
        if state.exists():
            # Best effort: the ledger alone is the statement; a locked or damaged state
            # store (the daemon recovers it) only means nothing is caught up now.
            with contextlib.suppress(sqlite3.Error):
                store = Store(state)
                try:
                    catch_up(ledger, store)
                finally:
                    store.close()
        return ledger.fees(quarter, provider)
    finally:
        ledger.close()


def cmd_report(args: argparse.Namespace) -> int:
    from .. import fsio
    from ..cli import _load
    from ..ledger import parse_quarter, reconcile, summarize

    cfg = _load(args)
    lang = args.lang or cfg.default_language
    quarter = parse_quarter(args.quarter)
    if quarter is None:
        raise ConfigError(_say("bad-quarter", lang))
    provider: str | None = args.provider
    if provider is not None and not _PROVIDER_RE.fullmatch(provider):
        raise ConfigError(_say("bad-provider", lang))
    fees = _read_ledger(cfg, quarter, provider, lang)

    comparison: Comparison | None = None
    if not args.offline:
        providers = [provider] if provider else sorted(
            {i.provider_code for i in cfg.identities} | {f.provider_code for f in fees})
        where, billed = _billing(cfg, quarter, providers, lang)
        mismatches: list[Mismatch] = []
        for pc in providers:
            mismatches += reconcile([f for f in fees if f.provider_code == pc], billed[pc])
        comparison = Comparison(where, mismatches)

    summary = summarize(fees, quarter, provider)
    doctors = {i.provider_code: i.name for i in cfg.identities}
    text = summary_text(summary, lang, dt.datetime.now(dt.UTC), doctors, comparison)
    out_dir: Path = args.output or Path.cwd()
    base = f"econnector-fees-{quarter}" + (f"-{provider}" if provider else "")
    written = [out_dir / f"{base}.csv", out_dir / f"{base}.txt"]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fsio.write_text(written[0], fees_csv(fees))
        fsio.write_text(written[1], text)
        if comparison is not None:
            written.append(out_dir / f"{base}-mismatches.csv")
            fsio.write_text(written[2], mismatches_csv(comparison.mismatches))
    except OSError as e:
        raise ConfigError(_say("bad-output", lang, path=out_dir,
                               detail=e.strerror or type(e).__name__)) from None
    print(text, end="")
    print()
    for path in written:
        print(_say("written", lang, path=path))
    return 1 if comparison is not None and comparison.mismatches else 0
