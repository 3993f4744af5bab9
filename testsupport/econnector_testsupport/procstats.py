"""CPU and memory of a process and its children, from /proc (Linux), for the benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    out = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for k in kids:
        out += tree(int(k))
    return out


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` alone."""
    return _cpu([pid])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children."""
    return _cpu(tree(pid))


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / TICK
        except OSError:
            pass
    return total


def rss_mib(pid: int, children: bool = True) -> float:
    """Resident memory of ``pid`` (and by default its children) in MiB."""
    return _sum_kib(tree(pid) if children else [pid], "status", "VmRSS:") / 1024


def pss_mib(pid: int) -> float:
    """Proportional set size of ``pid`` and its children in MiB: pages shared between
    them (the interpreter, libraries) are split instead of counted once per process."""
    return _sum_kib(tree(pid), "smaps_rollup", "Pss:") / 1024


def _sum_kib(pids: list[int], proc_file: str, prefix: str) -> int:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/{proc_file}").read_text().splitlines():
                if line.startswith(prefix):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total
