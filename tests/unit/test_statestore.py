"""The state store: transitions validated by the pure table and recorded with their time."""

from pathlib import Path

import pytest

from econnector.states import Event, InvalidTransition, State
from econnector.statestore import Store


def test_transitions_are_recorded_in_order_with_time(tmp_path: Path) -> None:
    s = Store(tmp_path / "state.sqlite")
    d = s.create("inv-1", "inv-1.pdf", "inv-1.yaml", {"size": 1, "mtime_ns": 2, "ino": 3}, 100.0)
    assert d.state is State.RECEIVED and d.pdf_stat == {"size": 1, "mtime_ns": 2, "ino": 3}
    s.transition(d.id, Event.SIGNED, 101.0, signed_sha256="ab" * 32)
    s.transition(d.id, Event.UPLOAD, 102.0)
    d = s.transition(d.id, Event.CONFIRMED, 103.5, delivery={"vault_document_id": "vd_1"})
    assert d.state is State.DELIVERED and d.delivery == {"vault_document_id": "vd_1"}
    hist = [(h["from_state"], h["to_state"], h["event"], h["at"]) for h in s.history(d.id)]
    assert hist == [
        (None, "received", "claim", 100.0),
        ("received", "signed", "signed", 101.0),
        ("signed", "delivering", "upload", 102.0),
        ("delivering", "delivered", "confirmed", 103.5),
    ]
    assert s.integrity_ok()


def test_an_invalid_transition_changes_nothing(tmp_path: Path) -> None:
    s = Store(tmp_path / "state.sqlite")
    d = s.create("a", "a.pdf", "a.yaml", None, 1.0)
    with pytest.raises(InvalidTransition):
        s.transition(d.id, Event.CONFIRMED, 2.0)
    assert s.get(d.id).state is State.RECEIVED
    assert len(s.history(d.id)) == 1


def test_unfinished_survives_reopening(tmp_path: Path) -> None:
    s = Store(tmp_path / "state.sqlite")
    a = s.create("a", "a.pdf", "a.yaml", None, 1.0)
    b = s.create("b", "b.pdf", "b.yaml", None, 1.0)
    s.transition(b.id, Event.REJECT, 2.0, error={"code": "x"})
    s.update(b.id, 3.0, finalized_at=3.0)
    s.close()
    s2 = Store(tmp_path / "state.sqlite")
    assert [d.id for d in s2.unfinished()] == [a.id]
    assert s2.counts() == {"received": 1, "rejected": 1}
    mode = s2.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_what_get_returns_is_what_a_fresh_reader_sees(tmp_path: Path) -> None:
    """The write-through cache never differs from the database."""
    s = Store(tmp_path / "s.db")
    d = s.create("inv-1", "inv-1.pdf", "inv-1.json", {"size": 10, "mtime_ns": 1, "ino": 2}, 100.0)
    s.update(d.id, 101.0, meta={"b": 1, "a": [1, 2]}, provider_code="90812100",
             document_id="2026-1", doc_key="90812100/2026-1", original_sha256="ab")
    s.transition(d.id, Event.SIGNED, 102.0, signed_sha256="cd", signature={"level": "B-B"},
                 signed_at="2026-11-25T10:00:00Z")
    s.transition(d.id, Event.UPLOAD, 103.0)
    s.transition(d.id, Event.RETRY_LATER, 104.0, reason="vault-unavailable", attempts=1,
                 next_attempt_at=110.5)
    with pytest.raises(InvalidTransition):
        s.transition(d.id, Event.CONFIRMED, 105.0, delivery={"x": 1})
    s.transition(d.id, Event.UPLOAD, 106.0)
    s.transition(d.id, Event.CONFIRMED, 107.0, delivery={"vault_document_id": "vd_1"},
                 delivered_at="2026-11-25T10:00:07Z", reason=None)
    cached = s.get(d.id)
    fresh = Store(tmp_path / "s.db").get(d.id)
    assert cached == fresh
    assert cached.state is State.DELIVERED and cached.attempts == 1
