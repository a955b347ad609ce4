"""Audits a soak's transcripts: every file is a whole session (header, contiguous events, a final
close of both legs, no transcript_overflow gap), its close events' byte counts equal the bytes
of its data events, and each transcript matches one client session whose plaintext bytes, as the
client counted them, are the ones recorded."""

from __future__ import annotations

import base64
import collections
import dataclasses
import json
from pathlib import Path


@dataclasses.dataclass
class Audit:
    transcripts: int = 0
    events: int = 0
    data_bytes: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    warnings: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    unmatched_transcripts: int = 0
    unmatched_sessions: int = 0
    byte_mismatches: int = 0
    incomplete: int = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)

    @property
    def lost_events(self) -> int:
        """Sessions whose transcript is missing, incomplete or disagrees with the client."""
        return self.incomplete + self.unmatched_sessions + self.byte_mismatches


def _data_length(event: dict) -> int:
    if "text" in event:
        return len(event["text"].encode("utf-8"))
    return len(base64.b64decode(event["b64"]))


def check_file(path: Path, audit: Audit) -> dict | None:
    """Checks one transcript on its own; returns a summary for matching, or None if broken."""
    raw = path.read_bytes()
    name = path.name
    if not raw.endswith(b"\n"):
        audit.problem(f"{name}: last line not terminated")
        return None
    try:
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        audit.problem(f"{name}: a line is not JSON: {e}")
        return None
    if not lines or lines[0].get("type") != "session":
        audit.problem(f"{name}: no session header")
        return None
    header, events = lines[0], lines[1:]
    audit.events += len(events)
    sums = collections.Counter()
    last_close = None
    errors = []
    for i, e in enumerate(events, 1):
        if e.get("seq") != i:
            audit.problem(f"{name}: seq {e.get('seq')} where {i} was due")
            return None
        kind = e.get("type")
        if kind == "data":
            # A redacted event's text stands for the secret; its len is still the wire length.
            n = e.get("len", -1) if e.get("redacted") else _data_length(e)
            if n != e.get("len"):
                audit.problem(f"{name}: seq {i}: len {e.get('len')} but {n} bytes")
                return None
            sums[("from", e["from"])] += n
            sums[("to", e["to"])] += n
            audit.data_bytes += n
        elif kind == "warning":
            audit.warnings[e.get("code", "?")] += 1
            if e.get("code") == "transcript_overflow":
                audit.problem(f"{name}: transcript_overflow: events dropped")
                return None
        elif kind == "error":
            errors.append(e.get("code", "?"))
        elif kind == "close":
            last_close = e
    if not events or events[-1].get("type") != "close" or events[-1].get("leg") != "both":
        audit.problem(f"{name}: does not end with the close of both legs")
        return None
    final = events[-1]
    for leg in ("client", "server"):
        recorded_in = final.get(f"{leg}_bytes_in")
        recorded_out = final.get(f"{leg}_bytes_out")
        if recorded_in != sums[("from", leg)] or recorded_out != sums[("to", leg)]:
            audit.problem(f"{name}: {leg} bytes in/out {recorded_in}/{recorded_out} but data "
                          f"events carry {sums[('from', leg)]}/{sums[('to', leg)]}")
            return None
    # Per-leg close events come earlier; their counts can only be a prefix of the final ones.
    for e in events:
        if e.get("type") == "close" and e.get("leg") in ("client", "server"):
            leg = e["leg"]
            if e["bytes_in"] > final[f"{leg}_bytes_in"] or e["bytes_out"] > final[f"{leg}_bytes_out"]:
                audit.problem(f"{name}: {leg} close counts exceed the final ones")
                return None
    assert last_close is final
    return {"file": name, "listener": header["listener"]["name"],
            "port": int(header["client"].rpartition(":")[2]), "t": header["t"],
            "client_in": final["client_bytes_in"], "client_out": final["client_bytes_out"],
            "errors": errors, "reason": final.get("reason", "")}


def audit_transcripts(directory: Path, sessions: list) -> Audit:
    """`sessions`: the clients' SessionResult list. Every client connection must have exactly
    one transcript; a successful one must be complete and carry exactly the client's bytes."""
    audit = Audit()
    files = sorted(Path(directory).glob("*.jsonl")) if Path(directory).is_dir() else []
    audit.transcripts = len(files)
    by_key: dict[tuple[str, int], list[dict]] = collections.defaultdict(list)
    for path in files:
        summary = check_file(path, audit)
        if summary is None:
            audit.incomplete += 1
            continue
        by_key[(summary["listener"], summary["port"])].append(summary)
    clients: dict[tuple[str, int], list] = collections.defaultdict(list)
    for s in sessions:
        if s.client_port:  # a connect that failed before a socket existed has no transcript
            clients[(s.listener, s.client_port)].append(s)
    # A port is reused only after the earlier connection closed: pair them in time order.
    for key in set(by_key) | set(clients):
        ts = sorted(by_key.get(key, []), key=lambda x: x["t"])
        cs = sorted(clients.get(key, []), key=lambda x: x.started)
        for t, c in zip(ts, cs):
            if not c.ok:
                continue
            if t["errors"]:
                audit.byte_mismatches += 1
                audit.problem(f"{t['file']}: error events {t['errors']} in a session the client "
                              f"completed")
            elif t["client_in"] != c.sent or t["client_out"] != c.received:
                audit.byte_mismatches += 1
                audit.problem(f"{t['file']}: client bytes in/out {t['client_in']}/"
                              f"{t['client_out']}, the client sent/received {c.sent}/{c.received}")
        if len(ts) > len(cs):
            audit.unmatched_transcripts += len(ts) - len(cs)
            audit.problem(f"{key}: {len(ts) - len(cs)} transcript(s) without a client session")
        if len(cs) > len(ts):
            missing = [c for c in cs[len(ts):]]
            audit.unmatched_sessions += len(missing)
            audit.problem(f"{key}: {len(missing)} client session(s) without a transcript "
                          f"(ok={[c.ok for c in missing]})")
    return audit
