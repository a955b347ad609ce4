"""Helpers for mailtap's integration tests: the real-server sandbox (tools/sandbox.sh), the
mailtap proxy as a child process, mailbox polling and running real client programs.

Every wait here is bounded; nothing loops forever.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterable, Sequence

REPO_DIR = Path(__file__).resolve().parents[2]
SANDBOX_SCRIPT = REPO_DIR / "tools" / "sandbox.sh"

# Service names in sandbox.json's "ports", in the order tools/sandbox.sh uses.
SERVICES = ("smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s")
BASE_PORTS = {"smtp": 10025, "submission": 10587, "smtps": 10465, "imap": 10143,
              "imaps": 10993, "pop3": 10110, "pop3s": 10995}
# Which protocol each sandbox service speaks, and how TLS starts on it.
SERVICE_PROTOCOL = {"smtp": "smtp", "submission": "smtp", "smtps": "smtp", "imap": "imap",
                    "imaps": "imap", "pop3": "pop3", "pop3s": "pop3"}
SERVICE_TLS = {"smtp": "starttls", "submission": "starttls", "smtps": "implicit",
               "imap": "starttls", "imaps": "implicit", "pop3": "starttls", "pop3s": "implicit"}


class CommandFailed(AssertionError):
    """A helper program failed; the message carries its command line and output."""


def run(cmd: Sequence[str], *, timeout: float = 60, check: bool = True, env=None,
        input: bytes | None = None) -> subprocess.CompletedProcess:
    """Runs a program with a deadline; output is captured as text (undecodable bytes replaced)."""
    try:
        proc = subprocess.run(list(cmd), input=input, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise CommandFailed(f"timed out after {timeout}s: {' '.join(map(str, cmd))}\n"
                            f"stdout: {_text(e.stdout)}\nstderr: {_text(e.stderr)}") from None
    result = subprocess.CompletedProcess(proc.args, proc.returncode, _text(proc.stdout),
                                         _text(proc.stderr))
    if check and proc.returncode != 0:
        raise CommandFailed(f"exit {proc.returncode}: {' '.join(map(str, cmd))}\n"
                            f"stdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def _text(b) -> str:
    if b is None:
        return ""
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else b


def unique_token(prefix: str = "mailtap") -> str:
    """A string to put in a Subject/body so a test finds exactly its own message."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def candidate_port_offsets(count: int = 8) -> list[int]:
    """Offsets (multiples of 1000) whose seven sandbox ports are free now, in random order so
    that test sessions running at the same time rarely pick the same one. Ports stay below
    32768, out of Linux's default ephemeral range."""
    offsets = [1000 * k for k in range(1, 22)]
    random.shuffle(offsets)
    free = [o for o in offsets if all(port_is_free(p + o) for p in BASE_PORTS.values())]
    return free[:count]


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    login: str
    password: str
    address: str
    maildir: Path


class Sandbox:
    """A running sandbox, described by the sandbox.json that tools/sandbox.sh writes."""

    def __init__(self, directory: Path, info: dict):
        self.dir = Path(directory)
        self.info = info
        self.host: str = info["host"]
        self.domain: str = info["domain"]
        self.ca = Path(info["ca"])
        self.ports: dict[str, int] = dict(info["ports"])
        self.users = {name: User(name, u["login"], u["password"], u["address"], Path(u["maildir"]))
                      for name, u in info["users"].items()}
        self.logs = {k: Path(v) for k, v in info["logs"].items()}

    @classmethod
    def load(cls, directory: Path) -> "Sandbox":
        directory = Path(directory)
        return cls(directory, json.loads((directory / "sandbox.json").read_text()))

    def __getitem__(self, key):  # the parsed sandbox.json, for fixtures that want a dict
        return self.info[key]

    def port(self, service: str) -> int:
        return self.ports[service]

    def user(self, name: str = "alice") -> User:
        return self.users[name]

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only the sandbox CA and checks host names."""
        return ssl.create_default_context(cafile=str(self.ca))

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for name, path in self.logs.items():
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError as e:
                text = [f"(cannot read: {e})"]
            out.append(f"----- {name} log ({path}) -----")
            out.extend(text)
        return "\n".join(out)

    # --- mailboxes -------------------------------------------------------------------------

    def messages(self, user: str = "alice") -> list[bytes]:
        """Raw messages in the user's Maildir (new/ and cur/), oldest first."""
        maildir = self.users[user].maildir
        files = []
        for sub in ("new", "cur"):
            d = maildir / sub
            if d.is_dir():
                files.extend(p for p in d.iterdir() if p.is_file())
        files.sort(key=lambda p: (p.stat().st_mtime, p.name))
        return [p.read_bytes() for p in files]

    def wait_for_message(self, token: str, user: str = "alice", timeout: float = 30) -> bytes:
        """Waits until a message containing `token` is in the user's Maildir; returns it.
        Delivery is asynchronous (Postfix queue -> LMTP -> Dovecot), hence the polling."""
        needle = token.encode()
        deadline = time.monotonic() + timeout
        while True:
            for msg in self.messages(user):
                if needle in msg:
                    return msg
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no message containing {token!r} reached {user}'s Maildir within {timeout}s\n"
                    + self.log_tail())
            time.sleep(0.2)


def sandbox_cmd(action: str, directory: Path, *, offset: int | None = None,
                timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if offset is not None:
        env["MAILTAP_SANDBOX_PORT_OFFSET"] = str(offset)
    return run(["bash", str(SANDBOX_SCRIPT), action, str(directory)], timeout=timeout, env=env,
               check=check)


def start_sandbox(directory: Path, offsets: Iterable[int | None] = (None,)) -> Sandbox:
    """Starts tools/sandbox.sh in `directory`, trying each port offset in turn while the ports
    turn out to be taken (exit 4, or Postfix/Dovecot losing a bind race)."""
    last = None
    for offset in offsets:
        result = sandbox_cmd("start", directory, offset=offset, check=False)
        if result.returncode == 0:
            return Sandbox.load(directory)
        last = result
        if result.returncode == 2:
            break  # not root: no offset will help
        busy = result.returncode == 4 or "in use" in (result.stdout + result.stderr)
        if not busy:
            break
    assert last is not None
    raise CommandFailed(f"tools/sandbox.sh start {directory} failed (exit {last.returncode})\n"
                        f"stdout: {last.stdout}\nstderr: {last.stderr}")


def stop_sandbox(directory: Path) -> None:
    sandbox_cmd("stop", directory, timeout=90)


# --- the proxy ------------------------------------------------------------------------------


def load_jsonl(path: Path) -> list[dict]:
    """Parses a JSON Lines file; every non-empty line must be a JSON object."""
    events = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise AssertionError(f"{path}:{n}: not JSON ({e}): {line[:200]!r}") from None
    return events


class Proxy:
    """`mailtap proxy` running as a child process with one listener.

    Attributes: host, port (the bound listener), ca_pem (mailtap's local CA, for clients),
    transcripts (directory), ready (parsed ready file), args (the command line).
    """

    def __init__(self, args: list[str], workdir: Path, ready_file: Path, ca_dir: Path,
                 transcripts: Path, start_timeout: float = 20):
        self.args = args
        self.workdir = workdir
        self.ca_dir = ca_dir
        self.ca_pem = ca_dir / "ca.pem"
        self.transcripts = transcripts
        self._stderr_path = workdir / "proxy.stderr"
        self._stdout_path = workdir / "proxy.stdout"
        self.returncode: int | None = None
        with open(self._stdout_path, "wb") as out, open(self._stderr_path, "wb") as err:
            self.process = subprocess.Popen(args, stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL)
        self.ready = self._wait_ready(ready_file, start_timeout)
        listen = self.ready["listeners"][0]["listen"]
        host, _, port = listen.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)

    def _wait_ready(self, ready_file: Path, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mailtap proxy exited with {self.process.returncode} before "
                                     f"it was ready\ncommand: {' '.join(self.args)}\n"
                                     f"stderr: {self.stderr()}")
            if ready_file.exists():
                try:
                    ready = json.loads(ready_file.read_text())
                    if ready.get("listeners"):
                        return ready
                except json.JSONDecodeError:
                    pass  # written atomically by rename, but be lenient
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"mailtap proxy wrote no ready file {ready_file} within {timeout}s\n"
                             f"command: {' '.join(self.args)}\nstderr: {self.stderr()}")

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def stderr(self) -> str:
        try:
            return self._stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait for a clean exit (which flushes every transcript). Returns the
        exit status. A proxy that does not exit in time is killed and the test fails."""
        if self.returncode is not None:
            return self.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"mailtap proxy ignored SIGTERM for {timeout}s; killed\n"
                                     f"stderr: {self.stderr()}") from None
        self.returncode = self.process.returncode
        return self.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.returncode = self.process.returncode

    def transcript_files(self) -> list[Path]:
        if not self.transcripts.is_dir():
            return []
        return sorted(p for p in self.transcripts.iterdir() if p.suffix == ".jsonl")

    def load_transcripts(self) -> list[list[dict]]:
        """Every transcript file (sorted by name, i.e. by time), each as its list of JSON lines.
        Stops the proxy first if it is still running, so the files are complete."""
        self.stop()
        return [load_jsonl(p) for p in self.transcript_files()]

    def load_transcripts_by_file(self) -> dict[str, list[dict]]:
        self.stop()
        return {p.name: load_jsonl(p) for p in self.transcript_files()}


def start_proxy(mailtap_bin: str, workdir: Path, *, proto: str, upstream: str,
                client_tls: str, upstream_tls: str, upstream_ca: Path | None,
                extra_args: Sequence[str] = (), start_timeout: float = 20) -> Proxy:
    """Creates a fresh local CA in workdir/ca, then starts the proxy with the flags the
    integration tests rely on and waits for its ready file."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca_dir = workdir / "ca"
    transcripts = workdir / "transcripts"
    ready_file = workdir / "ready.json"
    if not (ca_dir / "ca.pem").exists():
        run([mailtap_bin, "ca", "init", "--ca-dir", str(ca_dir)], timeout=60)
    args = [mailtap_bin, "proxy", "--listen", "127.0.0.1:0", "--upstream", upstream,
            "--proto", proto, "--client-tls", client_tls, "--upstream-tls", upstream_tls]
    if upstream_ca is not None:
        args += ["--upstream-ca", str(upstream_ca)]
    args += ["--ca-dir", str(ca_dir), "--transcripts", str(transcripts),
             "--ready-file", str(ready_file), *extra_args]
    return Proxy(args, workdir, ready_file, ca_dir, transcripts, start_timeout)


# --- real clients -----------------------------------------------------------------------------


def swaks(server: str, port: int, *, to: str, sender: str, ca: Path | None = None,
          tls: str | None = None, auth: str | None = None, user: str | None = None,
          password: str | None = None, subject: str = "mailtap test", body: str = "hello",
          extra: Sequence[str] = (), timeout: float = 60,
          check: bool = True) -> subprocess.CompletedProcess:
    """Runs swaks. tls: None (plain), "starttls" (-tls, STARTTLS required) or "implicit"
    (--tlsc). With ca, the server certificate is verified against it."""
    cmd = ["swaks", "--server", f"{server}:{port}", "--to", to, "--from", sender,
           "--header", f"Subject: {subject}", "--body", body, "--timeout", "30"]
    if tls == "starttls":
        cmd.append("-tls")
    elif tls == "implicit":
        cmd.append("--tlsc")
    if ca is not None and tls:
        cmd += ["--tls-verify", "--tls-ca-path", str(ca)]
    if auth:
        cmd += ["--auth", auth, "--auth-user", user or "", "--auth-password", password or ""]
    cmd += list(extra)
    return run(cmd, timeout=timeout, check=check)


def message_text(subject: str, token: str, sender: str, to: str) -> bytes:
    """A small RFC 5322 message with CRLF line ends, for smtplib and curl."""
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{token}@sandbox.test>\r\n\r\n"
            f"body line with {token}\r\n").encode()
