"""Intake decisions: from listed names (and what a probe read) to Claim, Refuse, Wait or
Rescan. Pure: the listing is made up, times are given."""

from __future__ import annotations

from pathlib import Path

from econnector import safeopen
from econnector.intake import (
    BUSY,
    Claim,
    Intake,
    Refuse,
    Rescan,
    StemFiles,
    Wait,
    contract_name,
)
from econnector.readiness import Timing

T = Timing(settle=0.25, incomplete_timeout=10.0, orphan_timeout=60.0)
PDF = safeopen.PdfProbe(has_header=True, has_eof=True)


def entry(name: str, size: int = 100, regular: bool = True, ino: int = 0) -> safeopen.Entry:
    return safeopen.Entry(name, size, 1, ino or hash(name) % 10_000, 1, regular,
                          "" if regular else "symbolic link", contract_name(name))


def judged(names: list[safeopen.Entry], probe: object = PDF, at: float = 1.0,
           seen_at: float = 0.0) -> tuple[dict[str, StemFiles], dict[str, object]]:
    """Group at ``seen_at`` and judge every stem at ``at``."""
    intake = Intake(Path("/outbox"), T)
    intake.group(names, seen_at)
    groups = intake.group(names, at)
    return groups, {k: intake.judge(k, g, at, probe) for k, g in groups.items()}


def test_a_settled_complete_pair_is_claimed() -> None:
    _, out = judged([entry("inv.pdf"), entry("inv.yaml")])
    assert out == {"inv": Claim()}


def test_a_pair_still_being_written_waits_silently_for_it_to_settle() -> None:
    _, out = judged([entry("inv.pdf"), entry("inv.yaml")], at=0.1)
    assert out == {"inv": Wait(None, 0.25)}


def test_a_pair_changed_since_the_listing_is_looked_at_again() -> None:
    _, out = judged([entry("inv.pdf"), entry("inv.yaml")], probe=None)
    assert out == {"inv": Rescan()}


def test_a_pdf_we_may_not_read_yet_says_file_busy() -> None:
    _, out = judged([entry("inv.pdf"), entry("inv.yaml")], probe=BUSY)
    assert out == {"inv": Wait("file-busy")}


def test_a_lone_pdf_says_it_awaits_its_sidecar_then_is_refused() -> None:
    _, out = judged([entry("inv.pdf")])
    assert out == {"inv": Wait("awaiting-sidecar", 60.0)}
    _, out = judged([entry("inv.pdf")], at=61.0)
    assert out == {"inv": Refuse("sidecar-missing", {"stem": "inv", "seconds": 60})}


def test_a_lone_sidecar_awaits_its_pdf_then_is_orphaned() -> None:
    _, out = judged([entry("inv.yaml")])
    assert out == {"inv": Wait("awaiting-pdf", 60.0)}
    _, out = judged([entry("inv.yaml")], at=60.0)
    assert out == {"inv": Refuse("sidecar-orphaned", {"stem": "inv", "seconds": 60})}


def test_pdf_contents_decide_not_pdf_incomplete_and_empty() -> None:
    pair = [entry("inv.pdf"), entry("inv.yaml")]
    word = safeopen.PdfProbe(has_header=False, has_eof=False)
    assert judged(pair, probe=word)[1] == {"inv": Refuse("pdf-not-pdf")}
    growing = safeopen.PdfProbe(has_header=True, has_eof=False)
    assert judged(pair, probe=growing)[1] == {"inv": Wait("awaiting-eof", 10.0)}
    assert judged(pair, probe=growing, at=10.0)[1] == {
        "inv": Refuse("pdf-incomplete", {"seconds": 10})}
    empty = [entry("e.pdf", size=0), entry("e.yaml")]
    assert judged(empty, probe=word, at=10.0)[1] == {"e": Refuse("pdf-empty")}


def test_two_sidecars_for_one_pdf_are_ambiguous() -> None:
    groups, out = judged([entry("inv.pdf"), entry("inv.yaml"), entry("inv.json")])
    assert out == {"inv": Refuse("sidecar-ambiguous", {"stem": "inv"})}
    assert groups["inv"].sidecar == "inv.json"  # the claim takes the first by name


def test_a_link_under_a_contract_name_is_refused_once_settled() -> None:
    pair = [entry("inv.pdf", regular=False), entry("inv.yaml")]
    assert judged(pair, at=0.1)[1] == {"inv": Wait(None, 0.25)}
    assert judged(pair)[1] == {
        "inv": Refuse("file-not-regular", {"name": "inv.pdf", "kind": "symbolic link"})}


def test_a_bad_stem_is_refused_as_a_pair_and_ignored_alone() -> None:
    bad = "in v"  # a space: not a name the contract allows
    groups, out = judged([entry(f"{bad}.pdf"), entry(f"{bad}.yaml")])
    (key,) = groups
    assert not groups[key].stem_ok
    assert out == {key: Refuse("bad-file-name", {"name": f"{bad}.pdf"})}
    _, out = judged([entry(f"{bad}.pdf")], at=1000.0)
    assert out == {key: Wait(None, None)}


def test_only_settled_regular_pairs_are_probed_and_no_more_than_there_is_room() -> None:
    intake = Intake(Path("/outbox"), T)
    names = [entry("a.pdf"), entry("a.yaml"), entry("b.pdf"), entry("b.yaml"),
             entry("c.pdf", regular=False), entry("c.yaml"), entry("d.pdf")]
    intake.group(names, 0.0)
    todo = sorted(intake.group(names, 1.0).items())
    assert [j.key for j in intake.probe_jobs(todo, 1.0, room=10)] == ["a", "b"]
    assert [j.key for j in intake.probe_jobs(todo, 1.0, room=1)] == ["a"]
    assert intake.probe_jobs(todo, 0.1, room=10) == []  # nothing settled yet


def test_claim_stats_record_the_files_as_judged_and_forget_drops_them() -> None:
    intake = Intake(Path("/outbox"), T)
    groups = intake.group([entry("a.pdf", size=7, ino=11), entry("a.yaml", size=3, ino=12)],
                          0.0)
    pdf, side = intake.claim_stats(groups["a"])
    assert pdf == {"size": 7, "mtime_ns": 1, "ino": 11, "dev": 1}
    assert side is not None and side["ino"] == 12
    intake.forget("a.pdf", "a.yaml")
    assert intake.tracks == {}
