"""What a process costs, read from /proc: resident memory, CPU time and bytes written to disk.

Linux only (the hub's home is a Raspberry Pi). Every reader returns None once the process is gone,
so a sampler never fails because the process it watches has just exited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Sample:
    """One reading of a process: CPU seconds (user + system, all threads), RSS and disk writes in bytes."""

    cpu: float
    rss: int
    written: int


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of every thread of `pid` so far (10 ms resolution)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            text = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the fields after its closing ')' are fixed.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int | None:
    """Resident set size of `pid` in bytes."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return None


def peak_rss_bytes(pid: int) -> int | None:
    """The highest RSS `pid` ever had (VmHWM), in bytes."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def written_bytes(pid: int) -> int | None:
    """Bytes `pid` caused to be written to storage (`write_bytes` of /proc/<pid>/io)."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def sample(pid: int) -> Sample | None:
    """CPU, RSS and disk writes of `pid` now, or None when it has exited."""
    cpu = cpu_seconds(pid)
    rss = rss_bytes(pid)
    written = written_bytes(pid)
    if cpu is None or rss is None:
        return None
    return Sample(cpu, rss, written or 0)


def machine() -> str:
    """'AMD EPYC, 2 cores' — the CPU model and core count, for the result table."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model"):
                    model = value.strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"
