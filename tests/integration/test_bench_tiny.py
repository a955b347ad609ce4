"""Keeps tools/bench.sh working: runs the whole benchmark at its tiny size (its own sandbox, every
relay, every workload) and checks that it completes and prints its table. The figures themselves
are never checked: a loaded CI machine says nothing about speed."""

from __future__ import annotations

import os
import subprocess

import pytest

from sandbox import REPO_DIR


def test_bench_tiny_completes_and_prints_the_table(mailtap_bin, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the benchmark's sandbox runs Postfix's master process, which needs root")
    results = tmp_path / "bench.json"
    proc = subprocess.run(["bash", str(REPO_DIR / "tools" / "bench.sh"), "--size", "tiny",
                           "--mailtap", mailtap_bin, "--json", str(results)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, f"tools/bench.sh failed ({proc.returncode})\n{out}\n{err}"
    header = next((line for line in out.splitlines() if line.startswith("| workload |")), None)
    assert header is not None, f"no table in the output:\n{out}"
    for column in ("direct", "mailtap", "mailtap --no-transcripts"):
        assert f"| {column} |" in header, header
    for workload in ("IMAPS FETCH", "POP3S RETR", "IMAPS NOOPs", "new connection per message",
                     "persistent connections", "idle IMAPS sessions"):
        rows = [line for line in out.splitlines() if line.startswith(f"| ") and workload in line]
        assert rows, f"no row for {workload}:\n{out}"
        # Every target measured something: no empty cell among the measured columns.
        assert all("failed" not in row for row in rows), rows
    assert results.exists() and results.stat().st_size > 0
