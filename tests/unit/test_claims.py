"""Claims on a shared outbox (claims.py): the lease decisions, and the renames on real
files (two nodes, one pair: one wins; a dead node's pairs go back to the outbox)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from econnector import claims
from econnector.errors import ConfigError


def test_a_lease_expires_when_its_counter_stops_moving_on_our_own_clock() -> None:
    seen = claims.observe({}, {"a": "t 1", "b": "u 1"}, 100.0)
    assert claims.expired(seen, "a", 105.0, 10) == []
    seen = claims.observe(seen, {"a": "t 2", "b": "u 1"}, 105.0)  # b stopped renewing
    assert seen["b"] == ("u 1", 100.0) and seen["a"] == ("t 2", 105.0)
    assert claims.expired(seen, "a", 111.0, 10) == ["b"]
    assert claims.expired(seen, "b", 111.0, 10) == []  # never ourselves; a moved at 105
    # file times play no part: a lease read the first time is fresh, whatever its age
    assert claims.expired(claims.observe({}, {"c": "v 9"}, 500.0), "a", 505.0, 10) == []
    assert claims.live_nodes({"a": 1000.0, "b": 870.0}, 1000.0, 120) == ["a"]


def pair(outbox: Path, stem: str) -> None:
    (outbox / f"{stem}.pdf").write_bytes(b"%PDF-1.7\n%%EOF\n")
    (outbox / f"{stem}.yaml").write_text("schema: x\n")


@pytest.fixture()
def outbox(tmp_path: Path) -> Path:
    p = tmp_path / "outbox"
    p.mkdir()
    return p


def test_of_two_nodes_one_takes_the_pair_and_the_other_walks_away(outbox: Path) -> None:
    a, b = claims.Claims(outbox, "a", 60), claims.Claims(outbox, "b", 60)
    a.start()
    b.start()
    pair(outbox, "x1")
    assert a.take([("x1", "x1.pdf", ["x1.yaml"])]) == {"x1"}
    assert b.take([("x1", "x1.pdf", ["x1.yaml"])]) == set()
    assert sorted(os.listdir(a.layout.mine)) == ["x1.pdf", "x1.yaml"]
    assert os.listdir(b.layout.mine) == []
    assert sorted(os.listdir(outbox)) == [".econnector"]


def test_a_second_daemon_with_the_same_node_id_is_refused(outbox: Path) -> None:
    first = claims.Claims(outbox, "a", 60)
    first.start()
    with pytest.raises(ConfigError) as e:
        claims.Claims(outbox, "a", 60).start()
    assert e.value.field == "node.id" and "'a'" in str(e.value)
    first.close()
    claims.Claims(outbox, "a", 60).start()  # the lock went with its holder


def test_files_no_drop_names_go_back_to_the_outbox(outbox: Path) -> None:
    a = claims.Claims(outbox, "a", 60)
    a.start()
    pair(outbox, "x1")
    pair(outbox, "x2")
    a.take([("x1", "x1.pdf", ["x1.yaml"]), ("x2", "x2.pdf", ["x2.yaml"])])
    # a crash after the renames, before x2's row: x2 goes back, x1 (a row names it) stays
    assert a.release_unowned({"x1.pdf", "x1.yaml"}) == 2
    assert sorted(os.listdir(a.layout.mine)) == ["x1.pdf", "x1.yaml"]
    assert {"x2.pdf", "x2.yaml"} <= set(os.listdir(outbox))


def test_a_dead_nodes_pairs_go_back_after_its_lease_and_it_finds_a_tombstone(
    outbox: Path,
) -> None:
    a, b = claims.Claims(outbox, "a", 10), claims.Claims(outbox, "b", 10)
    now = [0.0]
    b.mono = lambda: now[0]
    a.start()
    b.start()
    pair(outbox, "x1")
    assert a.take([("x1", "x1.pdf", ["x1.yaml"])]) == {"x1"}
    pair(outbox, "x1")  # meanwhile the practice dropped a new x1: it must stay as it is
    assert b.take_over() == []
    now[0] = 8.0
    a.renew()  # alive
    assert b.take_over() == []
    now[0] = 17.0  # a renewed at 8: 9 s ago
    assert b.take_over() == []
    now[0] = 19.0  # 11 s without a change: a is dead
    assert b.take_over() == [("a", 2)]
    # its pair came back together under one new stem, beside the new drop
    assert {"x1.pdf", "x1.yaml", "x1.1.pdf", "x1.1.yaml"} <= set(os.listdir(outbox))
    assert not a.layout.mine.exists() and not a.layout.lease().exists()
    now[0] = 40.0
    assert b.take_over() == []  # once
    a.close()
    back = claims.Claims(outbox, "a", 10)
    back.start()
    tomb = back.tombstone()
    assert tomb is not None and tomb["taken_by"] == "b"
    assert sorted(tomb["files"]) == ["x1.pdf", "x1.yaml"]  # type: ignore[arg-type]
    back.clear_tombstone()
    assert back.tombstone() is None


def test_a_pair_another_pc_holds_open_is_not_taken_and_the_others_are(
    outbox: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SMB refuses to rename a file another client has open (EBUSY): that pair waits for
    the next scan, and the rest of the batch is still claimed."""
    import errno

    a = claims.Claims(outbox, "a", 60)
    a.start()
    pair(outbox, "x1")
    pair(outbox, "x2")
    real = os.rename

    def rename(src: object, dst: object) -> None:
        if str(src).endswith("x1.pdf"):
            raise OSError(errno.EBUSY, "Device or resource busy")
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    assert a.take([("x1", "x1.pdf", ["x1.yaml"]), ("x2", "x2.pdf", ["x2.yaml"])]) == {"x2"}
    assert {"x1.pdf", "x1.yaml"} <= set(os.listdir(outbox))


def test_a_second_pc_with_our_node_id_shows_in_our_lease(outbox: Path) -> None:
    """flock is local to one PC on some network file systems: the lease tells instead."""
    a = claims.Claims(outbox, "a", 60)
    a.start()
    assert not a.twin()
    a.layout.lease().write_text("0123456789abcdef 7\n")  # another process renewed it
    assert a.twin()


def test_a_lone_daemon_is_refused_on_an_outbox_that_nodes_share(outbox: Path) -> None:
    claims.refuse_if_shared(outbox, 60)  # no nodes: fine
    a = claims.Claims(outbox, "a", 60)
    a.start()
    with pytest.raises(ConfigError) as e:
        claims.refuse_if_shared(outbox, 60)
    assert e.value.field == "node.shared_outbox" and "a" in str(e.value)
    claims.refuse_if_shared(outbox, 60, now=time.time() + 600)  # a's lease long expired
