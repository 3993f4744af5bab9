"""Several PCs on one shared outbox: each drop is claimed by one node, by a rename.

With ``node.shared_outbox: true`` every node lists the shared outbox and judges it
as a lone daemon would (:mod:`.intake`); a pair it decides to take is first moved,
by ``rename(2)``, into the node's own claim folder on the same share::

    outbox/.econnector/                  (hidden: the contract ignores dot names)
        claims/<node>/                   the pairs this node works on
        signed/                          signed bytes, shared: a node that takes
                                         over a dead node's pair reuses its
                                         signature, so the vault sees the same
                                         bytes under the same idempotency key
        nodes/<node>.lock                flock: one daemon per node id
        nodes/<node>.lease               a counter rewritten every lease/4 seconds
        nodes/<node>.taken.json          tombstone: who took this node's claims

A rename is atomic on one file system, local, NFS or SMB alike: of two nodes that
both judged a pair ready, one rename of the PDF succeeds and the other gets
``ENOENT`` and walks away. The PDF is the claim; its sidecars follow it. Only then
is the drop row written (in the node's own state store, in its own ``work/``), so a
crash between the two leaves files in the claim folder that no row names: at the
next start they go back to the outbox (:meth:`Claims.release_unowned`).

A node that dies leaves its claim folder behind. A lease is a counter the node
rewrites; the others watch it on their own monotonic clock, so neither the PCs'
clocks nor the file times a network file system reports (some stamp the client's
time, some cache attributes for seconds) decide anything. Once a node's counter has
not moved for ``node.lease_s`` by our clock, another node renames its whole claim
folder aside (one taker wins)
and moves its pairs back into the outbox, where any node claims them as new. Work
the dead node had done is not lost: its signed bytes are in the shared
``signed/`` folder, and an upload it had made is answered by the vault as a replay
of the same idempotency key (never a second document, never a second fee).

Pure decisions (:func:`expired`) are separate from the file operations, which run
on threads (the share can stall).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from . import fsio, instancelock
from .errors import ConfigError

log = structlog.get_logger("econnector.claims")

HIDDEN = ".econnector"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a node's files sit on the shared outbox."""

    outbox: Path
    node: str

    @property
    def base(self) -> Path:
        return self.outbox / HIDDEN

    @property
    def claims(self) -> Path:
        return self.base / "claims"

    @property
    def mine(self) -> Path:
        return self.claims / self.node

    @property
    def signed(self) -> Path:
        return self.base / "signed"

    @property
    def nodes(self) -> Path:
        return self.base / "nodes"

    def scratch(self, node: str | None = None) -> Path:
        """The node's temp files beside the shared signed bytes (same file system)."""
        return self.signed / f".{node or self.node}"

    def lease(self, node: str | None = None) -> Path:
        return self.nodes / f"{node or self.node}.lease"

    def tombstone(self, node: str | None = None) -> Path:
        return self.nodes / f"{node or self.node}.taken.json"


Seen = dict[str, tuple[str, float]]  # node -> (its lease's content, our time it was first read)


def observe(seen: Seen, leases: dict[str, str], now_m: float) -> Seen:
    """The leases as last read, each with the (monotonic) time we first saw that content:
    a renewing node's content changes, so its time moves on."""
    return {n: seen[n] if n in seen and seen[n][0] == text else (text, now_m)
            for n, text in leases.items()}


def expired(seen: Seen, me: str, now_m: float, lease_s: float) -> list[str]:
    """The nodes whose lease has not changed for ``lease_s`` seconds of our own clock."""
    return sorted(n for n, (_, since) in seen.items() if n != me and now_m - since > lease_s)


def live_nodes(leases: dict[str, float], now: float, lease_s: float) -> list[str]:
    """Nodes whose lease is fresh by ``now`` (a lone daemon's check at start)."""
    return sorted(n for n, t in leases.items() if now - t <= lease_s)


class Claims:
    """One node's claims on a shared outbox."""

    def __init__(self, outbox: Path, node: str, lease_s: float) -> None:
        self.layout = Layout(outbox, node)
        self.node = node
        self.lease_s = lease_s
        self._lock_fd: int | None = None
        self._beat = 0
        self._token = os.urandom(8).hex()  # this process: a twin with our node id shows
        self._seen: Seen = {}
        self.mono = time.monotonic

    # -- start -----------------------------------------------------------------------
    def start(self) -> None:
        """Folders, the node's lock (a second daemon with this node id is refused) and a
        fresh lease. Blocking."""
        lay = self.layout
        for p in (lay.base, lay.claims, lay.mine, lay.signed, lay.scratch(), lay.nodes):
            with contextlib.suppress(FileExistsError):
                os.mkdir(p, 0o700)
        try:
            self._lock_fd = instancelock.acquire(lay.nodes, f"{self.node}.lock")
        except ConfigError:
            raise ConfigError(
                f"another econnector already runs as node {self.node!r} on this shared "
                f"outbox ({lay.nodes / (self.node + '.lock')} is locked); give each PC its "
                "own node.id", "node.id") from None
        self.renew()
        _empty(lay.scratch())  # our workers of an earlier life are dead (a lock is ours)

    def rejoin(self) -> None:
        """Taken over while alive (we stalled longer than the lease): our folders again."""
        for p in (self.layout.mine, self.layout.scratch()):
            with contextlib.suppress(FileExistsError):
                os.mkdir(p, 0o700)
        self.renew()

    def renew(self) -> None:
        """Rewrite our lease with the next count (written, not touched: a utime on a
        network mount may carry the PC's clock, and attributes may be cached)."""
        self._beat += 1
        data = f"{self._token} {self._beat}\n".encode()
        fd = os.open(self.layout.lease(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                     | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def leases(self) -> dict[str, str]:
        """Each node's lease as it reads now (each file opened afresh)."""
        out: dict[str, str] = {}
        with contextlib.suppress(FileNotFoundError):
            for e in os.scandir(self.layout.nodes):
                if e.name.endswith(".lease"):
                    with contextlib.suppress(OSError, UnicodeDecodeError), \
                            open(e.path, encoding="ascii") as f:
                        out[e.name[: -len(".lease")]] = f.read(200)
        return out

    def twin(self) -> bool:
        """Another process renews our lease: a second PC was given our node id."""
        text = self.leases().get(self.node)
        return text is not None and not text.startswith(self._token)

    # -- claiming --------------------------------------------------------------------
    def take(self, pairs: Iterable[tuple[str, str | None, list[str]]]) -> set[str]:
        """Claim each ``(key, pdf, sidecars)``: the PDF's rename (or, with no PDF, the
        first sidecar's) decides; the rest follow. The keys this node won. Blocking."""
        won: set[str] = set()
        for key, pdf, sidecars in pairs:
            first, rest = (pdf, sidecars) if pdf else (sidecars[0], sidecars[1:])
            if not self._move_in(first):
                continue
            for name in rest:
                # Another node may have taken a lone sidecar as orphaned in between:
                # what is missing is judged again here, like any drop.
                self._move_in(name)
            won.add(key)
        if won:
            fsio.fsync_dir(self.layout.mine)
        return won

    def _move_in(self, name: str) -> bool:
        src, dst = self.layout.outbox / name, self.layout.mine / name
        if os.path.lexists(dst):  # ours from an earlier drop under this name: never overwritten
            return False
        try:
            os.rename(src, dst)
        except FileNotFoundError:
            return False  # another node was first
        except OSError as e:
            # SMB refuses to rename a file another PC holds open (EBUSY): not ours for
            # now, judged again at the next scan. One pair never stops the others.
            log.info("claim-not-taken", error=e.strerror or type(e).__name__)
            return False
        return True

    def release_unowned(self, owned: set[str]) -> int:
        """At start: files in our claim folder that no unfinished drop of ours names
        (a crash between the rename and the row) go back to the outbox. Blocking."""
        try:
            names = [n for n in os.listdir(self.layout.mine) if n not in owned]
        except FileNotFoundError:
            return 0
        return self._give_back_pairs(self.layout.mine, names)

    def _give_back_pairs(self, folder: Path, names: list[str]) -> int:
        """Move ``names`` from ``folder`` back into the outbox, a pair under one stem: if
        the outbox holds a new drop under that stem, the pair takes ``<stem>.N`` for all
        its files (never split, never over the new drop)."""
        by_stem: dict[str, list[str]] = {}
        for n in names:
            stem, dot, _ = n.rpartition(".")
            by_stem.setdefault(stem if dot else n, []).append(n)
        moved = 0
        outbox = self.layout.outbox
        for stem, group in sorted(by_stem.items()):
            def target(name: str, k: int, stem: str = stem) -> Path:
                return outbox / (name if k == 0 else f"{stem}.{k}{name[len(stem):]}")
            k = 0
            while any(os.path.lexists(target(n, k)) for n in group):
                k += 1
            for n in group:
                with contextlib.suppress(FileNotFoundError):
                    os.rename(folder / n, target(n, k))
                    moved += 1
        return moved

    # -- dead nodes ------------------------------------------------------------------
    def take_over(self) -> list[tuple[str, int]]:
        """Renew our lease, then give back the pairs of every node whose lease expired:
        ``[(node, files)]``. Blocking; safe to run on every node at once."""
        if self.twin():
            log.error("node-id-used-twice", node=self.node)
        self.renew()
        now_m = self.mono()
        self._seen = observe(self._seen, self.leases(), now_m)
        out = []
        for node in expired(self._seen, self.node, now_m, self.lease_s):
            moved = self._give_back(node)
            if moved is not None:
                out.append((node, moved))
        return out

    def _give_back(self, node: str) -> int | None:
        lay = self.layout
        src = lay.claims / node
        aside: Path | None = lay.claims / f".taken-{node}-{self.node}-{time.time_ns()}"
        assert aside is not None
        try:
            os.rename(src, aside)  # one taker wins
        except FileNotFoundError:
            aside = None  # nothing claimed, or another node was first
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            return None
        moved = 0
        names: list[str] = []
        if aside is not None:
            names = sorted(os.listdir(aside))
            moved += self._give_back_pairs(aside, names)
            with contextlib.suppress(OSError):
                os.rmdir(aside)
        _empty(lay.scratch(node))  # its workers' half-written temp files
        # The dead node's lease goes; its tombstone tells it, if it comes back, that
        # its unfinished drops were given back (it must not finish them itself).
        if aside is not None or not lay.tombstone(node).exists():
            fsio.write_json(lay.tombstone(node), {"taken_by": self.node, "at": time.time(),
                                                  "files": names})
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lay.lease(node))
        log.warning("node-claims-taken-over", node=node, files=moved)
        return moved

    def tombstone(self) -> dict[str, object] | None:
        """Our tombstone, if another node took our claims while we were away."""
        try:
            doc = json.loads(self.layout.tombstone().read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def clear_tombstone(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.layout.tombstone())

    def close(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None


def _empty(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        for e in os.scandir(folder):
            with contextlib.suppress(OSError):
                os.unlink(e.path)


def refuse_if_shared(outbox: Path, lease_s: float, now: float | None = None) -> None:
    """A daemon configured alone on an outbox that nodes share would claim their drops
    behind their backs: refused at start, naming them. (File times here: a start cannot
    watch a counter for a lease's time; a guess either way only delays or allows the
    start, it never moves a claim.)"""
    nodes_dir = Layout(outbox, "-").nodes
    leases: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for e in os.scandir(nodes_dir):
            if e.name.endswith(".lease"):
                with contextlib.suppress(OSError):
                    leases[e.name[: -len(".lease")]] = e.stat(follow_symlinks=False).st_mtime
    live = live_nodes(leases, time.time() if now is None else now, lease_s)
    if live:
        raise ConfigError(
            f"this outbox is shared by econnector nodes {', '.join(live)} ({nodes_dir}); "
            "set node.shared_outbox: true (and a node.id per PC) to join them",
            "node.shared_outbox")
