"""Odd ways vendors write into the outbox, each with the outcome econnector gives it.

Every case drives the real ``econnector run`` process (local vault) through the
folder contract. The table in docs/folder-contract.md section 3.2 names these
tests; keep the two in step.

Timings (short, for tests): settle 100 ms, rescan every 1 s, a PDF without
``%%EOF`` is refused after 2 s. ``orphan_timeout`` is 4 s rather than 2 s so
that one daemon can show both a sidecar that waits 2.5 s for its PDF (case 4,
delivered) and one whose PDF never comes (case 5, refused).

Cases that need an empty outbox, their own signing state or a crowded outbox
(8, 11, 12 and the race variant of 1) start their own daemon; the others share
one daemon and use distinct stems and document ids. After every test the inbox
holds no temp files (``.*.tmp``) and the daemon is alive; every daemon must stop
on SIGTERM with exit code 0 (checked by ``running_daemon``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from econnector import names
from econnector.testid import TestIdentity
from econnector_testsupport.daemon import (
    PROVIDER,
    Daemon,
    drop,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import unsigned_pdf

pytestmark = pytest.mark.e2e

WATCH = {"settle_ms": 100, "rescan_interval_s": 1, "incomplete_timeout_s": 2,
         "orphan_timeout_s": 4}
ORPHAN_S = 4.0
RESCAN_S = 1.0


# -- helpers --------------------------------------------------------------------------------------


def side_bytes(meta: dict[str, Any], fmt: str = "yaml") -> bytes:
    if fmt == "json":
        return json.dumps(meta).encode()
    return yaml.safe_dump(meta, sort_keys=False).encode()


def put(path: Path, data: bytes) -> None:
    """Write ``path`` atomically (temp name that the contract ignores, then rename)."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def vault_documents(d: Daemon) -> list[Path]:
    """The PDFs the local vault stores (one per stored document)."""
    return sorted((d.root / "work" / "vault" / "documents").rglob("*.pdf"))


def log_events(d: Daemon, event: str, stem: str) -> int:
    """How many times the daemon logged ``event`` for ``stem`` (the log is JSON lines,
    and names a stem only by its reference, never as written)."""
    n = 0
    ref = names.ref(stem)
    text = d.log_path.read_text("utf-8", errors="replace") if d.log_path.exists() else ""
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("event") == event and rec.get("stem") == ref:
            n += 1
    return n


def waiting(d: Daemon, stem: str, reason: str) -> dict[str, Any] | None:
    s = d.status(stem)
    return s if s and s["state"] == "waiting" and s.get("reason") == reason else None


def wait_waiting(d: Daemon, stem: str, reason: str, timeout: float = 10) -> dict[str, Any]:
    return wait_for(  # type: ignore[no-any-return]
        lambda: waiting(d, stem, reason), timeout, f"{stem}: waiting/{reason}",
        on_fail=lambda: f"status={d.status(stem)}\n{d.log()}",
    )


def inbox_names(d: Daemon, stem: str) -> list[str]:
    return sorted(p.name for p in d.inbox.iterdir() if p.name.startswith(stem + "."))


def file_id(p: Path) -> tuple[int, int, int, bytes]:
    st = p.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns, p.read_bytes()


def wait_scanning(d: Daemon) -> None:
    """"watching" is printed before the pipeline has prepared its folders and scanned.

    Probe with a lone PDF: its waiting status proves a scan ran; removing it
    removes the status again.
    """
    probe = d.outbox / "odd-probe.pdf"
    put(probe, unsigned_pdf("probe"))
    wait_waiting(d, "odd-probe", "awaiting-sidecar", timeout=20)
    probe.unlink()
    wait_for(lambda: d.status("odd-probe") is None, 10, "the probe's status to go")


def assert_no_stray_temp(d: Daemon) -> None:
    """econnector writes inbox files as ``.<name>.<hex>.tmp`` then renames: none may stay."""
    wait_for(lambda: not list(d.inbox.glob(".*.tmp")), 3, "no temp files in inbox/",
             on_fail=lambda: str(sorted(p.name for p in d.inbox.glob(".*.tmp"))))


def assert_delivered_once(d: Daemon, stem: str, pdf: bytes, vault_before: int) -> dict[str, Any]:
    st = d.wait_outcome(stem)
    assert st["state"] == "delivered", st
    receipt = d.receipt(stem)
    assert receipt is not None
    assert receipt["original_sha256"] == hashlib.sha256(pdf).hexdigest()
    signed = (d.inbox / f"{stem}.signed.pdf").read_bytes()
    assert signed[: len(pdf)] == pdf  # the complete original, as the vendor finished it
    # the status file is written just before the "delivered" log line
    wait_for(lambda: log_events(d, "delivered", stem), 5, f"{stem}: logged delivered")
    assert log_events(d, "delivered", stem) == 1
    assert log_events(d, "claimed", stem) == 1
    assert len(vault_documents(d)) == vault_before + 1
    assert d.error(stem) is None
    return receipt


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, identity: TestIdentity) -> Iterator[Daemon]:
    """One daemon for the cases that can share it; it must stop cleanly (exit 0) at the end."""
    root = tmp_path_factory.mktemp("odd") / "practice"
    cfg = write_config(root, [(PROVIDER, identity)], watch=WATCH)
    with running_daemon(cfg) as d:
        wait_scanning(d)
        yield d


@pytest.fixture
def d(shared: Daemon) -> Iterator[Daemon]:
    yield shared
    assert shared.alive(), shared.log()
    assert_no_stray_temp(shared)


@contextlib.contextmanager
def own_daemon(root: Path, ident: TestIdentity) -> Iterator[Daemon]:
    cfg = write_config(root, [(PROVIDER, ident)], watch=WATCH)
    with running_daemon(cfg) as dm:
        wait_scanning(dm)
        yield dm
        assert dm.alive(), dm.log()
        assert_no_stray_temp(dm)
    # running_daemon has checked that it stopped on SIGTERM with exit code 0


# -- 1. a writer that takes seconds ---------------------------------------------------------------


def test_slow_writer_is_signed_complete_and_once(d: Daemon) -> None:
    stem = "odd-slow"
    pdf = unsigned_pdf("Odd slow writer", pages=3)
    before = len(vault_documents(d))
    put(d.outbox / f"{stem}.yaml", side_bytes(sidecar("ODD-SLOW", type_="certificate")))
    # four bursts with 0.8 s pauses (8x settle); %%EOF is in the last burst only
    q = len(pdf) // 4
    parts = [pdf[:q], pdf[q : 2 * q], pdf[2 * q : 3 * q], pdf[3 * q :]]
    assert b"%%EOF" in parts[-1] and b"%%EOF" not in pdf[: 3 * q]
    seen = []
    with open(d.outbox / f"{stem}.pdf", "wb") as f:
        for i, part in enumerate(parts):
            f.write(part)
            f.flush()
            os.fsync(f.fileno())
            if i < len(parts) - 1:
                time.sleep(0.8)
                seen.append(d.status(stem))
    # between bursts the file is settled but has no %%EOF: it waits, it is not taken
    assert all(s and (s["state"], s.get("reason")) == ("waiting", "awaiting-eof")
               for s in seen), seen
    assert_delivered_once(d, stem, pdf, before)
    assert not (d.outbox / f"{stem}.pdf").exists()


def test_last_burst_landing_during_a_scan_is_not_claimed_early(
    tmp_path: Path, identity: TestIdentity
) -> None:
    """Case 1 under pressure: the final burst (with %%EOF) lands while a scan is running.

    Watcher events from an unrelated file keep the daemon scanning, and a backlog of
    files makes each scan take a few milliseconds. Whatever the timing, the drop must
    be claimed with the size it has when it is complete: the receipt's
    ``original_sha256`` is the hash of the whole PDF, the original is archived, and
    the status stays ``delivered``.
    """
    n = 40
    with own_daemon(tmp_path / "practice", identity) as dm:
        # Ballast: lone files with bad stems are listed and stat'ed by every scan but get
        # no answer. They make a scan last a few milliseconds, as a busy outbox does,
        # which widens the gap between a file's stat and the read of its tail.
        for i in range(2000):
            (dm.outbox / f"ballast {i:04d}.pdf").write_bytes(b"")
        stop = threading.Event()

        def noise() -> None:  # an ignored name: every write is an event, hence a scan
            i = 0
            while not stop.is_set():
                (dm.outbox / f"noise-{i % 4}.txt").write_bytes(b"x")
                i += 1
                time.sleep(0.0005)

        noisy = threading.Thread(target=noise)
        noisy.start()
        pdfs = {}
        try:
            for i in range(n):
                stem = f"odd-burst-{i:02d}"
                pdfs[stem] = pdf = unsigned_pdf(f"Odd burst {i}", pages=2)
                put(dm.outbox / f"{stem}.yaml",
                    side_bytes(sidecar(f"ODD-BURST-{i:02d}", type_="certificate")))
                cut = len(pdf) * 3 // 4
                with open(dm.outbox / f"{stem}.pdf", "wb") as f:
                    f.write(pdf[:cut])
                    f.flush()
                    time.sleep(0.15)  # settled, without %%EOF
                    f.write(pdf[cut:])
                    f.flush()
        finally:
            stop.set()
            noisy.join()
        wait_for(lambda: all(dm.receipt(s) or dm.error(s) for s in pdfs), 60,
                 "a receipt or an error file for every drop", on_fail=dm.log)
        time.sleep(RESCAN_S + 0.5)
        wrong = {}
        for stem, pdf in pdfs.items():
            receipt = dm.receipt(stem)
            status = dm.status(stem)
            left = sorted(p.name for p in dm.outbox.glob(f"{stem}.*"))
            hash_ok = (receipt or {}).get("original_sha256") == hashlib.sha256(pdf).hexdigest()
            if not hash_ok or (status or {}).get("state") != "delivered" or left:
                wrong[stem] = {"receipt_hash_ok": hash_ok, "state": (status or {}).get("state"),
                               "reason": (status or {}).get("reason"), "left_in_outbox": left}
        assert not wrong, f"{len(wrong)} of {n} claimed before they were complete: {wrong}"


def test_waiting_for_eof_does_not_make_the_daemon_spin(d: Daemon) -> None:
    """While a PDF waits for ``%%EOF`` econnector looks at it on its schedule, not in a loop.

    Each look reads the PDF's tail, which the kernel reports as an open/close of
    the file; we count those closes with our own inotify watch. Expected: a few per
    second (the rescan interval and the recheck times); reading the tail must not
    itself trigger the next look.
    """
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    stem = "odd-spin"
    pdf = unsigned_pdf("Odd spin")
    put(d.outbox / f"{stem}.yaml", side_bytes(sidecar("ODD-SPIN", type_="certificate")))
    path = d.outbox / f"{stem}.pdf"
    path.write_bytes(pdf[: len(pdf) // 2])
    wait_waiting(d, stem, "awaiting-eof")
    reads: list[float] = []

    class Reads(FileSystemEventHandler):
        def on_closed_no_write(self, event: FileSystemEvent) -> None:
            if Path(str(event.src_path)).name == path.name:
                reads.append(time.monotonic())

    observer = Observer()
    observer.schedule(Reads(), str(d.outbox), recursive=False)
    observer.start()
    try:
        time.sleep(1.0)
    finally:
        observer.stop()
        observer.join()
    with open(path, "ab") as f:  # the writer finishes within incomplete_timeout
        f.write(pdf[len(pdf) // 2 :])
    assert d.wait_outcome(stem)["state"] == "delivered"
    assert len(reads) <= 10, f"the waiting PDF was read {len(reads)} times in 1 s"


# -- 2. rewritten in place before it settles ------------------------------------------------------


def test_pdf_rewritten_in_place_before_it_settles_signs_the_last_version(d: Daemon) -> None:
    stem = "odd-rewrite"
    v1 = unsigned_pdf("Odd rewrite, version 1")
    v2 = unsigned_pdf("Odd rewrite, version 2 (corrected)", pages=2)
    assert len(v1) != len(v2)
    before = len(vault_documents(d))
    put(d.outbox / f"{stem}.yaml", side_bytes(sidecar("ODD-REWRITE", type_="certificate")))
    path = d.outbox / f"{stem}.pdf"
    path.write_bytes(v1)  # complete, with %%EOF
    ino = path.stat().st_ino
    time.sleep(0.02)  # well within settle (100 ms)
    with open(path, "r+b") as f:  # the same file: truncate, write the new content
        f.truncate(0)
        f.write(v2)
    assert path.stat().st_ino == ino
    receipt = assert_delivered_once(d, stem, v2, before)
    assert (d.inbox / f"{stem}.signed.pdf").read_bytes()[: len(v2)] == v2
    time.sleep(RESCAN_S + 0.5)  # nothing else happens to the stem afterwards
    assert inbox_names(d, stem) == [f"{stem}.{x}" for x in
                                    ("receipt.json", "receipt.txt", "signed.pdf", "status.json")]
    assert d.receipt(stem) == receipt
    assert log_events(d, "claimed", stem) == 1


# -- 3. replaced by rename before claim -----------------------------------------------------------


def test_pdf_replaced_by_rename_before_claim_signs_the_new_file(d: Daemon) -> None:
    stem = "odd-rename"
    v1 = unsigned_pdf("Odd rename, version 1")
    v2 = unsigned_pdf("Odd rename, version 2 (replaced)", pages=2)
    before = len(vault_documents(d))
    put(d.outbox / f"{stem}.yaml", side_bytes(sidecar("ODD-RENAME", type_="certificate")))
    tmp = d.outbox / f"{stem}.pdf.tmp"  # ignored by the contract
    tmp.write_bytes(v2)
    path = d.outbox / f"{stem}.pdf"
    put(path, v1)
    time.sleep(0.02)  # within settle
    os.replace(tmp, path)
    assert_delivered_once(d, stem, v2, before)
    assert sorted(p.name for p in d.archived() if p.name.startswith(stem)) == [
        f"{stem}.pdf", f"{stem}.signed.pdf", f"{stem}.yaml"]


# -- 4. and 5. a sidecar before its PDF, or without one ------------------------------------------


def test_sidecar_long_before_its_pdf_waits_then_is_delivered(d: Daemon) -> None:
    stem = "odd-early-side"
    pdf = unsigned_pdf("Odd early sidecar")
    before = len(vault_documents(d))
    t0 = time.monotonic()
    put(d.outbox / f"{stem}.yaml", side_bytes(sidecar("ODD-EARLY", type_="certificate")))
    st = wait_waiting(d, stem, "awaiting-pdf")
    assert st["document_id"] is None
    time.sleep(max(0.0, 2.5 - (time.monotonic() - t0)))
    assert waiting(d, stem, "awaiting-pdf")  # still waiting after 2.5 s
    put(d.outbox / f"{stem}.pdf", pdf)
    assert_delivered_once(d, stem, pdf, before)


def test_sidecar_without_pdf_is_orphaned(d: Daemon) -> None:
    stem = "odd-orphan"
    t0 = time.monotonic()
    put(d.outbox / f"{stem}.json", side_bytes(sidecar("ODD-ORPHAN"), "json"))
    wait_waiting(d, stem, "awaiting-pdf")
    st = d.wait_outcome(stem, timeout=ORPHAN_S + 10)
    assert time.monotonic() - t0 >= ORPHAN_S - 0.2
    assert st["state"] == "rejected" and st["reason"] == "sidecar-orphaned", st
    err = d.error(stem)
    assert err is not None and err["code"] == "sidecar-orphaned"
    assert err["files"] == [f"{stem}.json"]
    assert (d.failed / f"{stem}.json").exists()
    assert not (d.outbox / f"{stem}.json").exists()
    assert (d.inbox / f"{stem}.error.txt").exists()


# -- 6. a PDF without a sidecar --------------------------------------------------------------------


def test_pdf_without_sidecar_waits_untouched(d: Daemon) -> None:
    stem = "odd-lone-pdf"
    path = d.outbox / f"{stem}.pdf"
    put(path, unsigned_pdf("Odd lone PDF"))
    st = wait_waiting(d, stem, "awaiting-sidecar")
    before = file_id(path)
    time.sleep(2.5 * RESCAN_S)  # a few periodic rescans
    assert file_id(path) == before  # same inode, size, mtime and bytes
    assert d.status(stem) == st  # not even rewritten
    assert d.error(stem) is None and log_events(d, "claimed", stem) == 0
    # withdrawn before it was complete: the waiting status goes away with it
    path.unlink()
    wait_for(lambda: not (d.inbox / f"{stem}.status.json").exists(), 5, "status removed")


# -- 7. zero-byte files -------------------------------------------------------------------------


def test_zero_byte_files(d: Daemon) -> None:
    # a zero-byte PDF with a valid sidecar: waits for %%EOF, then pdf-empty
    put(d.outbox / "odd-empty-pdf.yaml", side_bytes(sidecar("ODD-EMPTY-PDF")))
    put(d.outbox / "odd-empty-pdf.pdf", b"")
    # a zero-byte sidecar (YAML and JSON) with a valid PDF
    put(d.outbox / "odd-empty-yaml.pdf", unsigned_pdf("Odd empty YAML"))
    put(d.outbox / "odd-empty-yaml.yaml", b"")
    put(d.outbox / "odd-empty-json.pdf", unsigned_pdf("Odd empty JSON"))
    put(d.outbox / "odd-empty-json.json", b"")
    t0 = time.monotonic()
    wait_waiting(d, "odd-empty-pdf", "awaiting-eof")
    st = d.wait_outcome("odd-empty-pdf")
    assert time.monotonic() - t0 >= 2.0 - 0.3  # incomplete_timeout
    assert (st["state"], st["reason"]) == ("rejected", "pdf-empty"), st
    for stem, code, name in (
        ("odd-empty-pdf", "pdf-empty", "odd-empty-pdf.yaml"),
        ("odd-empty-yaml", "sidecar-not-mapping", "odd-empty-yaml.yaml"),
        ("odd-empty-json", "sidecar-syntax", "odd-empty-json.json"),
    ):
        st = d.wait_outcome(stem)
        assert (st["state"], st["reason"]) == ("rejected", code), (stem, st)
        err = d.error(stem)
        assert err is not None and err["code"] == code and err["document_id"] is None
        assert sorted(err["files"]) == sorted([f"{stem}.pdf", name])
        assert (d.failed / f"{stem}.pdf").exists() and (d.failed / name).exists()


# -- 8. the sidecar deleted while the document is held -------------------------------------------


def test_sidecar_deleted_while_held_is_still_delivered(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    secret = ident.passphrase_file.read_bytes()
    ident.passphrase_file.unlink()  # the key is locked: drops are held after validation
    with own_daemon(tmp_path / "practice", ident) as dm:
        stem = "odd-held"
        pdf = unsigned_pdf("Odd held")
        drop(dm.outbox, stem, pdf, sidecar("ODD-HELD", type_="certificate"))
        st = wait_for(lambda: (s := dm.status(stem)) and s["state"] == "held" and s, 20,
                      "held", on_fail=dm.log)
        assert st["reason"] == "identity-locked" and st["document_id"] == "ODD-HELD"
        (dm.outbox / f"{stem}.yaml").unlink()  # the vendor deletes the sidecar meanwhile
        time.sleep(RESCAN_S + 0.5)
        assert dm.status(stem)["state"] == "held"  # type: ignore[index]
        ident.passphrase_file.write_bytes(secret)
        st = dm.wait_outcome(stem)
        # the sidecar was read and validated at claim: the document goes out as dropped
        assert st["state"] == "delivered", st
        receipt = dm.receipt(stem)
        assert receipt is not None and receipt["document_id"] == "ODD-HELD"
        assert receipt["original_sha256"] == hashlib.sha256(pdf).hexdigest()
        assert len(vault_documents(dm)) == 1
        wait_for(lambda: log_events(dm, "delivered", stem), 5, "logged delivered")
        assert log_events(dm, "delivered", stem) == 1
        # the PDF is archived with its signed copy; the deleted sidecar is not recreated
        assert sorted(p.name for p in dm.archived()) == [f"{stem}.pdf", f"{stem}.signed.pdf"]
        assert list(dm.outbox.iterdir()) == []
        assert list(dm.failed.iterdir()) == []
        assert dm.error(stem) is None


# -- 9. symbolic links ----------------------------------------------------------------------------


def test_symlinks_are_never_followed(d: Daemon, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real_pdf = elsewhere / "real.pdf"
    real_pdf.write_bytes(unsigned_pdf("Odd symlink target"))
    real_side = elsewhere / "real.yaml"
    real_side.write_bytes(side_bytes(sidecar("ODD-LINK-2", type_="certificate")))
    targets = {p: file_id(p) for p in (real_pdf, real_side)}
    before = len(vault_documents(d))
    # a symlinked PDF with a real sidecar
    (d.outbox / "odd-link-pdf.pdf").symlink_to(real_pdf)
    put(d.outbox / "odd-link-pdf.yaml", side_bytes(sidecar("ODD-LINK-1", type_="certificate")))
    # a symlinked sidecar with a real PDF
    put(d.outbox / "odd-link-side.pdf", unsigned_pdf("Odd real PDF"))
    (d.outbox / "odd-link-side.yaml").symlink_to(real_side)

    # Each pair is refused with a code naming the link; nothing is opened or signed.
    pairs = (("odd-link-pdf", "odd-link-pdf.pdf"), ("odd-link-side", "odd-link-side.yaml"))
    for stem, link in pairs:
        st = d.wait_outcome(stem)
        assert (st["state"], st["reason"]) == ("rejected", "file-not-regular"), st
        err = d.error(stem)
        # in the configured default language (fr): the sidecar was never read
        assert err is not None and link in err["message"] and "lien symbolique" in err["message"]
        assert d.receipt(stem) is None and log_events(d, "claimed", stem) == 0
        # the link itself (not its target) is kept in failed/ with its partner
        assert (d.failed / link).is_symlink()
    assert (d.failed / "odd-link-pdf.yaml").is_file()
    assert (d.failed / "odd-link-side.pdf").is_file()
    assert not [p for p in d.outbox.iterdir() if p.name.startswith("odd-link")]
    assert len(vault_documents(d)) == before
    # the targets were never touched, moved or copied next to
    assert {p: file_id(p) for p in targets} == targets
    assert sorted(p.name for p in elsewhere.iterdir()) == ["real.pdf", "real.yaml"]


# -- 10. names ------------------------------------------------------------------------------------


def test_names_non_ascii_upper_case_extension_and_stem_case(d: Daemon) -> None:
    before = len(vault_documents(d))
    t0 = time.monotonic()
    put(d.outbox / "inv-8.pdf", unsigned_pdf("Odd inv-8"))
    put(d.outbox / "Inv-8.yaml", side_bytes(sidecar("ODD-INV-8")))
    bad = "Rechnung-Müller"
    put(d.outbox / f"{bad}.pdf", unsigned_pdf("Odd Mueller"))
    put(d.outbox / f"{bad}.yaml", side_bytes(sidecar("ODD-MUELLER")))
    pdf7 = unsigned_pdf("Odd INV-7")
    put(d.outbox / "INV-7.PDF", pdf7)
    put(d.outbox / "INV-7.yaml", side_bytes(sidecar("ODD-INV-7")))

    # stems differ in case: no pair; each waits on its own. Seen before the other
    # outcomes: on a busy machine (xdist) a delivery can take longer than ORPHAN_S.
    wait_waiting(d, "inv-8", "awaiting-sidecar")
    wait_waiting(d, "Inv-8", "awaiting-pdf")
    assert time.monotonic() - t0 < ORPHAN_S
    assert log_events(d, "claimed", "inv-8") == log_events(d, "claimed", "Inv-8") == 0

    out = names.out_stem(bad)  # answered under a name of our own, never the raw one
    st = d.wait_outcome(out)
    assert (st["state"], st["reason"]) == ("rejected", "bad-file-name"), st
    err = d.error(out)
    assert err is not None and err["code"] == "bad-file-name"
    assert err["files"] == [f"{bad}.pdf", f"{bad}.yaml"]
    assert (d.inbox / f"{out}.error.txt").exists()
    assert sorted(p.name for p in d.failed.iterdir() if p.name.startswith(out)) == [
        f"{out}.pdf", f"{out}.yaml"]

    assert_delivered_once(d, "INV-7", pdf7, before)
    assert "INV-7.PDF" in [p.name for p in d.archived()]  # the original name is kept

    assert log_events(d, "claimed", "inv-8") == log_events(d, "claimed", "Inv-8") == 0
    (d.outbox / "inv-8.pdf").unlink(missing_ok=True)  # gone if orphaned meanwhile
    (d.outbox / "Inv-8.yaml").unlink(missing_ok=True)


# -- 11. the outbox folder disappears and comes back ---------------------------------------------


def test_outbox_folder_disappears_and_comes_back(tmp_path: Path, identity: TestIdentity) -> None:
    with own_daemon(tmp_path / "practice", identity) as dm:
        health = dm.root / "work" / "daemon-status.json"
        dm.outbox.rmdir()  # a network share that went away
        time.sleep(2.5 * RESCAN_S)
        assert dm.alive(), dm.log()
        assert json.loads(health.read_text())["outbox_missing"] is True
        dm.outbox.mkdir()
        pdf = unsigned_pdf("Odd outbox back")
        drop(dm.outbox, "odd-back", pdf, sidecar("ODD-BACK", type_="certificate"))
        assert_delivered_once(dm, "odd-back", pdf, 0)
        assert json.loads(health.read_text())["outbox_missing"] is False


# -- 12. many pairs at once, both orders ---------------------------------------------------------


def test_many_pairs_dropped_concurrently_each_delivered_once(
    tmp_path: Path, identity: TestIdentity
) -> None:
    n = 16
    stems = [f"odd-many-{i:02d}" for i in range(n)]
    with own_daemon(tmp_path / "practice", identity) as dm:
        start = threading.Barrier(n)

        def writer(i: int) -> None:
            start.wait()
            drop(dm.outbox, stems[i], unsigned_pdf(stems[i]),
                 sidecar(f"ODD-MANY-{i:02d}", type_="certificate"),
                 fmt="json" if i % 2 else "yaml", sidecar_first=i % 4 < 2,
                 atomic=i % 3 != 0)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for stem in stems:
            assert dm.wait_outcome(stem, timeout=60)["state"] == "delivered", stem
        ids = {dm.receipt(s)["vault_document_id"] for s in stems}  # type: ignore[index]
        stored = vault_documents(dm)
        assert len(ids) == n == len(stored)
        assert {p.stem for p in stored} == ids
        wait_for(lambda: all(log_events(dm, "delivered", s) for s in stems), 5, "all logged")
        assert all(log_events(dm, "delivered", s) == 1 for s in stems)
        assert list(dm.outbox.iterdir()) == []
        assert len([p for p in dm.archived() if p.name.endswith(".signed.pdf")]) == n
