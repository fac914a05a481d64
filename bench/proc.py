"""Process figures the benchmarks share."""

from __future__ import annotations

from pathlib import Path


def peak_rss_kb(pid: int | str = "self") -> int:
    """A process's peak resident memory (VmHWM). Not ``ru_maxrss``: that survives ``exec``, so
    a freshly started child would report its parent's peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
