"""The inbox writer (everything the practice reads, and the originals' moves) and the
status files that follow transitions: real files in a temp folder, no pipeline."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from econnector.drops import signed_path
from econnector.errors import Rejected
from econnector.inbox import InboxWriter
from econnector.listeners import Listeners
from econnector.states import Event, State
from econnector.statestore import Drop, Store
from econnector.statusfiles import StatusFiles, wants_status
from econnector_testsupport.fakes import RecordingInbox, RecordingListener


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    out = {n: tmp_path / n for n in ("inbox", "outbox", "failed", "signed", "archive")}
    for p in out.values():
        p.mkdir()
    return out


@pytest.fixture
def writer(folders: dict[str, Path]) -> InboxWriter:
    return InboxWriter(inbox=folders["inbox"], outbox=folders["outbox"],
                       failed=folders["failed"],
                       signed_path=functools.partial(signed_path, folders["signed"]),
                       default_language="fr")


def claimed(store: Store, outbox: Path, stem: str) -> Drop:
    """A drop of a pair written to the outbox, with the stats a claim records."""
    stats = []
    for name, data in ((f"{stem}.pdf", b"%PDF-1.7 x %%EOF"), (f"{stem}.yaml", b"a: 1")):
        (outbox / name).write_bytes(data)
        st = (outbox / name).stat()
        stats.append({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino,
                      "dev": st.st_dev})
    return store.create(stem, f"{stem}.pdf", f"{stem}.yaml", stats[0], 1.0,
                        sidecar_stat=stats[1])


def test_a_waiting_status_is_written_once_per_reason_and_removed_with_the_files(
    folders: dict[str, Path]
) -> None:
    writer = RecordingInbox(inbox=folders["inbox"], outbox=folders["outbox"],
                            failed=folders["failed"],
                            signed_path=functools.partial(signed_path, folders["signed"]),
                            default_language="fr")
    writer.set_waiting("inv", "awaiting-sidecar", 0.0)
    writer.set_waiting("inv", "awaiting-sidecar", 5.0)  # the same reason: not rewritten
    writer.executor("inv").submit(lambda: None).result()  # what was queued is done
    status = json.loads((folders["inbox"] / "inv.status.json").read_text())
    assert (status["state"], status["reason"]) == ("waiting", "awaiting-sidecar")
    assert status["message"]  # in the practice's default language
    assert len(writer.written) == 1
    assert writer.waiting == {"inv": "awaiting-sidecar"}
    writer.clear_waiting("inv")
    writer.close()
    assert not (folders["inbox"] / "inv.status.json").exists() and writer.waiting == {}


def test_a_new_claim_supersedes_the_answers_of_an_earlier_attempt(
    writer: InboxWriter, folders: dict[str, Path]
) -> None:
    for suffix in (".error.json", ".error.txt", ".opted-out.json", ".receipt.json"):
        (folders["inbox"] / f"inv{suffix}").write_text("{}")
    writer.claimed("inv")
    writer.supersede_answers("inv")
    writer.close()
    assert sorted(p.name for p in folders["inbox"].iterdir()) == ["inv.receipt.json"]


def test_a_refusal_writes_the_error_file_moves_the_pair_and_writes_the_final_status(
    tmp_path: Path, writer: InboxWriter, folders: dict[str, Path]
) -> None:
    store = Store(tmp_path / "state.sqlite")
    d = claimed(store, folders["outbox"], "inv")
    err = Rejected("pdf-not-pdf")
    d = store.transition(d.id, Event.REJECT, 2.0, error=err.as_dict(), reason=err.code,
                         language="de")
    writer.rejected_files(d)
    doc = json.loads((folders["inbox"] / "inv.error.json").read_text())
    assert (doc["code"], doc["language"], doc["files"]) == (
        "pdf-not-pdf", "de", ["inv.pdf", "inv.yaml"])
    assert (folders["inbox"] / "inv.error.txt").read_text().startswith("Dokument abgelehnt")
    assert sorted(p.name for p in folders["failed"].iterdir()) == ["inv.pdf", "inv.yaml"]
    assert list(folders["outbox"].iterdir()) == []
    status = json.loads((folders["inbox"] / "inv.status.json").read_text())
    assert (status["state"], status["reason"]) == ("rejected", "pdf-not-pdf")
    store.close()


def test_an_original_replaced_since_the_claim_stays_in_the_outbox(
    tmp_path: Path, writer: InboxWriter, folders: dict[str, Path]
) -> None:
    store = Store(tmp_path / "state.sqlite")
    d = claimed(store, folders["outbox"], "inv")
    (folders["outbox"] / "inv.pdf").unlink()
    (folders["outbox"] / "inv.pdf").write_bytes(b"%PDF-1.7 another one, longer %%EOF")
    writer.move_original(d, folders["archive"], "archive")
    assert sorted(os.listdir(folders["outbox"])) == ["inv.pdf", "inv.yaml"]
    assert list(folders["archive"].iterdir()) == []
    store.close()


@pytest.mark.parametrize("state, event, wanted", [
    (State.RECEIVED, Event.CLAIM, True),
    (State.SIGNED, Event.SIGNED, False),  # 'delivering' or a wait follows at once
    (State.DELIVERING, Event.UPLOAD, False),  # written only if the upload lasts
    (State.WAITING_RETRY, Event.RETRY_LATER, True),
    (State.HELD, Event.HOLD, True),
    (State.RECEIVED, Event.RELEASE, True),
    (State.DELIVERED, Event.CONFIRMED, False),  # final status: part of finishing
    (State.REJECTED, Event.REJECT, False),
    (State.PATIENT_OPTED_OUT, Event.OPTED_OUT, False),
])
def test_which_transitions_write_a_status(state: State, event: Event, wanted: bool,
                                          tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    d = dataclasses.replace(store.create("s", "s.pdf", "s.yaml", None, 1.0), state=state)
    assert wants_status(d, event) is wanted
    store.close()


def test_status_files_follow_transitions_and_a_failed_write_pauses_storage(
    tmp_path: Path, writer: InboxWriter, folders: dict[str, Path]
) -> None:
    store = Store(tmp_path / "state.sqlite")
    failures: list[OSError] = []
    status = StatusFiles(writer, store, "en", on_failure=failures.append)
    heard = RecordingListener()
    listeners = Listeners(status, heard)

    async def scenario() -> dict[str, Any]:
        d = store.create("inv", "inv.pdf", "inv.yaml", None, 1.0)
        listeners.notify(d, None, Event.CLAIM)
        d = store.transition(d.id, Event.HOLD, 2.0, reason="identity-locked", message="")
        listeners.notify(d, State.RECEIVED, Event.HOLD)
        await writer.run("inv", lambda: None)  # the stem's thread has written both
        await asyncio.sleep(0)
        written = json.loads((folders["inbox"] / "inv.status.json").read_text())
        folders["inbox"].rename(tmp_path / "gone")  # the inbox is away: the write fails
        status.write(d)
        await writer.run("inv", lambda: None)
        await asyncio.sleep(0.01)
        return written

    written = asyncio.run(scenario())
    writer.close()
    assert (written["state"], written["reason"]) == ("held", "identity-locked")
    assert [h.event for h in heard.heard] == [Event.CLAIM, Event.HOLD]
    assert len(failures) == 1 and isinstance(failures[0], OSError)
    assert status.stale == {1}
    store.close()
