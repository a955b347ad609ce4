"""Turns the benchmark's raw results into the table it prints: absolute figures, ratios to the
direct connection, relay CPU, memory per idle session, and how far mailtap is from each target
of issue 6 (which is reported, never enforced)."""

from __future__ import annotations

import os
import platform
import subprocess

from procstat import median, percentile

RELAYS = ("mailtap", "mailtap-baseline", "mailtap-norec", "mailtap-threads", "haproxy")


def machine() -> dict:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        openssl = subprocess.run(["openssl", "version"], stdout=subprocess.PIPE,
                                 timeout=10).stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        openssl = "?"
    return {"cpus": os.cpu_count(), "model": model, "kernel": platform.release(),
            "openssl": openssl}


def _verdict(value: float | None, target: float, higher_is_better: bool, unit: str,
             fmt: str) -> str:
    if value is None:
        return "n/a"
    if (value >= target) if higher_is_better else (value <= target):
        return "met"
    return f"missed by {format(abs(target - value), fmt)}{unit}"


def _spread(times: list[float]) -> float | None:
    if len(times) < 2:
        return None
    return (max(times) - min(times)) / median(times)


class _Table:
    def __init__(self, results: dict):
        self.r = results
        self.present = [t for t in ("direct",) + RELAYS if t in results.get("targets", {})]
        self.rows: list[list[str]] = []

    def entry(self, key: str, target: str) -> dict | None:
        return self.r.get(key, {}).get(target)

    def add(self, workload: str, measure: str, cells: dict[str, str], target: str,
            verdicts: dict[str, str]) -> None:
        row = [workload, measure] + [cells.get(t, "—") for t in self.present]
        row += [target, verdicts.get("mailtap", "n/a"), verdicts.get("mailtap-norec", "n/a")]
        self.rows.append(row)

    def rate_rows(self, key: str, workload: str, unit: str, per: str, target_ratio: float,
                  cpu_unit: str, cpu_scale: float, cpu_target: float | None) -> None:
        base = self.entry(key, "direct")
        base_time = median(base["times"]) if base and base["times"] else None
        cells, verdicts, cpu_cells, cpu_verdicts = {}, {}, {}, {}
        for t in self.present:
            e = self.entry(key, t)
            if not e or not e["times"]:
                continue
            per_run = e["units"] / len(e["times"])
            rate = per_run / median(e["times"])
            cell = f"{rate:,.1f} {unit}"
            if t != "direct" and base_time:
                ratio = base_time / median(e["times"])
                cell += f" (x{ratio:.2f})"
                verdicts[t] = _verdict(ratio, target_ratio, True, "", ".2f")
            cells[t] = cell
            if e["cpu"]:
                cpu = sum(e["cpu"]) * cpu_scale / e["units"]
                cpu_cells[t] = f"{cpu:.2f} {cpu_unit}"
                if cpu_target is not None:
                    cpu_verdicts[t] = _verdict(cpu, cpu_target, False, f" {cpu_unit}", ".2f")
        self.add(workload, "throughput", cells, f"≥ x{target_ratio:.2f}", verdicts)
        self.add(workload, f"relay CPU per {per}", cpu_cells,
                 f"≤ {cpu_target} {cpu_unit}" if cpu_target is not None else "—", cpu_verdicts)

    def latency_rows(self, workload: str) -> None:
        base = self.entry("noop", "direct")
        for name, p, target in (("median", 50, 25.0), ("p99", 99, 60.0)):
            base_v = percentile(base["samples"], p) if base and base["samples"] else None
            cells, verdicts = {}, {}
            for t in self.present:
                e = self.entry("noop", t)
                if not e or not e["samples"]:
                    continue
                v = percentile(e["samples"], p)
                cells[t] = f"{v:,.0f} µs"
                if t != "direct" and base_v is not None:
                    cells[t] += f" ({v - base_v:+,.0f})"
                    verdicts[t] = _verdict(v - base_v, target, False, " µs", ".0f")
            self.add(workload, f"{name} round trip", cells, f"≤ +{target:.0f} µs added", verdicts)
        cpu_cells = {}
        for t in self.present:
            e = self.entry("noop", t)
            if e and e["cpu"]:
                cpu_cells[t] = f"{sum(e['cpu']) * 1e6 / e['units']:.0f} µs"
        self.add(workload, "relay CPU per round trip", cpu_cells, "—", {})

    def idle_row(self, workload: str) -> None:
        cells, verdicts = {}, {}
        for t in self.present:
            e = self.entry("idle", t)
            if e:
                cells[t] = f"{e['kib_per_session']:.1f} KiB"
                verdicts[t] = _verdict(e["kib_per_session"], 32.0, False, " KiB", ".1f")
        self.add(workload, "memory per session", cells, "≤ 32 KiB", verdicts)

    def render(self) -> str:
        labels = self.r.get("targets", {})
        head = ["workload", "measure"] + [labels[t] for t in self.present]
        head += ["target (issue 6)", "mailtap", "--no-transcripts"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def table(results: dict) -> str:
    p = results["params"]
    t = _Table(results)
    t.rate_rows("imaps_fetch", f"IMAPS FETCH {p['bulk_mb']} MB", "MB/s", "MB", 0.90, "ms",
                1e3, 2.5)
    t.rate_rows("pop3s_retr", f"POP3S RETR {p['bulk_mb']} MB", "MB/s", "MB", 0.90, "ms", 1e3,
                2.5)
    t.latency_rows(f"{p['noops']} sequential IMAPS NOOPs")
    t.rate_rows("smtp_new", f"smtp-source → smtp-sink, {p['smtp_messages']} × "
                f"{p['smtp_size'] // 1000} kB, new connection per message (10 parallel)",
                "msg/s", "message", 0.60, "µs", 1e6, None)
    t.rate_rows("smtp_persistent", f"smtp-source → smtp-sink, {p['smtp_messages']} × "
                f"{p['smtp_size'] // 1000} kB, 10 persistent connections", "msg/s", "message",
                0.60, "µs", 1e6, None)
    t.idle_row(f"{p['idle']} idle IMAPS sessions")

    m = results.get("machine", {})
    out = [f"mailtap benchmark, size {results['size']}: {m.get('cpus')} CPUs ({m.get('model')}), "
           f"Linux {m.get('kernel')}, {m.get('openssl')}; load average before "
           f"{results.get('load_before')}, after {results.get('load_after')}; "
           f"{results.get('seconds', 0):.0f} s", "", t.render(), ""]
    notes = []
    for key in ("imaps_fetch", "pop3s_retr", "smtp_new", "smtp_persistent"):
        spreads = []
        for target in t.present:
            e = t.entry(key, target)
            s = _spread(e["times"]) if e else None
            if s is not None:
                spreads.append(f"{target} {s * 100:.0f}%")
        if spreads:
            notes.append(f"{key}: " + ", ".join(spreads))
    if notes:
        out.append("Spread of repeated runs, (max - min) / median: " + "; ".join(notes) + ".")
    rec = [t.entry(k, "mailtap") for k in ("imaps_fetch", "pop3s_retr", "noop", "smtp_new",
                                           "smtp_persistent")]
    written = sum(e.get("transcript_bytes", 0) for e in rec if e)
    overflow = sum(e.get("overflow_warnings", 0) for e in rec if e)
    fc = results.get("file_creation")
    if fc:
        out.append(f"Creating one 3 kB file in the transcripts' directory (as the writer does per "
                   f"session) cost {fc['system_us']:.0f} µs of system time and "
                   f"{fc['wall_us']:.0f} µs of wall time here (mean of {fc['files']}): recording "
                   "pays it per session on top of relaying.")
    out.append(f"mailtap (recording) wrote {written / 1e6:,.1f} MB of transcripts; "
               f"{overflow} transcript_overflow warnings (0: every byte was recorded).")
    out.append("Throughput ratios are direct time / relay time (x1.00 = as fast as direct); "
               "relay CPU is utime+stime of the relay process (all threads, transcript writer "
               "included) divided by the payload.")
    return "\n".join(out)
