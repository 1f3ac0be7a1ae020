"""The benchmarks still run: small tables, exit status and printed figures only (no timing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_ingest_benchmark_runs() -> None:
    stdout = _run("ingest.py", "--prefixes", "20000")
    assert "phase 1, first table" in stdout
    assert "phase 2, second table" in stdout
    assert "prefixes/s" in stdout and "B/prefix" in stdout
    assert "with 2 paths 20,000, best from A 20,000: OK" in stdout
    assert "BIRD 2" in stdout


def test_codec_benchmark_runs() -> None:
    stdout = _run("codec.py", "--prefixes", "20000")
    assert "decode_update" in stdout and "prefixes/s" in stdout
    assert "memory per decoded prefix" in stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="benchmarks/kernel.py creates network namespaces")
def test_kernel_benchmark_runs() -> None:
    stdout = _run("kernel.py", "--routes", "2000", "--runs", "1", "--cycles", "2")
    assert "2,000 IPv4 routes into the kernel and out again" in stdout
    assert "pybgp KernelSync (watched)" in stdout and "pybgp RSS:" in stdout
    if shutil.which("bird"):
        assert "BIRD 2 kernel protocol" in stdout and "pybgp / BIRD" in stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="benchmarks/kernel.py creates network namespaces")
def test_kernel_benchmark_learned_runs() -> None:
    stdout = _run("kernel.py", "--routes", "2000", "--runs", "1", "--cycles", "2", "--only-learned")
    assert "2,000 routes learned over iBGP into the kernel" in stdout
    assert "pybgp run RSS:" in stdout
    if shutil.which("bird"):
        assert "BIRD 2 (bgp + kernel)" in stdout and "pybgp / BIRD" in stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="benchmarks/originate.py creates network namespaces")
def test_originate_benchmark_runs() -> None:
    stdout = _run("originate.py", "--prefixes", "3000", "--runs", "1")
    if shutil.which("bird") is None:
        assert "skipped" in stdout
        return
    assert "3,000 originated IPv4 prefixes" in stdout
    assert "run 1 pybgp run" in stdout and "run 1 BIRD 2" in stdout
    assert "ready (s)" in stdout and "peak MiB" in stdout and "ratio" in stdout
    assert "Speaker.originate_many" in stdout and "Speaker.originate once per prefix" in stdout
