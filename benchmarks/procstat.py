"""What the side-by-side benchmarks share: a process's memory and CPU from /proc, stopping a
process, the ratio of a figure to the reference's, and the end of a namespace lab (its
cleanup, the logs kept when anything went wrong)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def proc_bytes(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/PID/status (``VmRSS``, ``VmHWM``...), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (the machine's load does not inflate them)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def ratio(ours: float, reference: float) -> str:
    """``ours / reference``; ``n/a`` when the reference measured zero (CPU under a tick)."""
    return f"{ours / reference:5.2f}" if reference > 0 else "  n/a"


class Cleanable(Protocol):
    def cleanup(self) -> list[str]: ...


def finish_lab(lab: Cleanable, workdir: str | Path) -> None:
    """Remove the lab's namespaces and processes; delete ``workdir`` unless something failed
    (an exception in flight or a cleanup problem), then say where the logs are."""
    problems = lab.cleanup()
    if not problems and sys.exc_info()[0] is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs kept in {workdir}")
    if problems:
        print("cleanup problems:", *problems, sep="\n  ")


def reap(process: subprocess.Popen[Any], timeout: float = 20.0, *, terminate: bool = True) -> None:
    """Stop one of our processes (by its pid): SIGTERM (unless ``terminate`` is false: it was
    told to go another way), wait up to ``timeout``, then SIGKILL; always reaped."""
    if terminate and process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
