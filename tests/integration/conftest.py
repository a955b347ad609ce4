"""Fixtures for mailtap's integration tests (run with `/usr/bin/python3 -m pytest tests/integration`).

- `sandbox` (session): real Postfix + Dovecot from tools/sandbox.sh in a fresh temporary directory
  on free ports, stopped at the end. A `Sandbox` (see sandbox.py): .ports, .ca, .users, .port(name),
  .user(name), .ssl_context(), .wait_for_message(token, user), and sandbox["..."] for the raw
  sandbox.json. Set MAILTAP_TEST_SANDBOX_DIR=DIR to use (and leave running) a sandbox in DIR.
- `mailtap_bin` (session): the mailtap binary from $MAILTAP_BIN; tests that need it are skipped
  with a clear reason when it is unset.
- `proxy` (per test): a factory that starts `mailtap proxy` in front of a sandbox service (or any
  upstream) and returns a `Proxy`: .port, .host, .ca_pem, .transcripts, .stop(),
  .load_transcripts(). Every proxy is stopped with SIGTERM when the test ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from sandbox import (SERVICE_PROTOCOL, SERVICE_TLS, Sandbox, candidate_port_offsets,
                     start_proxy, start_sandbox, stop_sandbox)

_DEFAULT = object()
_ACTIVE_SANDBOXES: list[Sandbox] = []  # for log tails in failure reports


@pytest.fixture(scope="session")
def sandbox():
    if os.geteuid() != 0:
        pytest.skip("the sandbox runs Postfix's master process, which must start as root "
                    "(CI runs as root); run the integration tests as root")
    reuse = os.environ.get("MAILTAP_TEST_SANDBOX_DIR")
    if reuse:
        sb = start_sandbox(Path(reuse))  # idempotent: an already running sandbox is kept
        _ACTIVE_SANDBOXES.append(sb)
        yield sb
        return
    # Short path under /tmp: daemons that dropped root must reach it, and socket paths are short.
    directory = Path(tempfile.mkdtemp(prefix="mailtap-sbx-", dir="/tmp"))
    directory.chmod(0o755)
    offsets = candidate_port_offsets()
    if not offsets:
        pytest.fail("no free set of sandbox ports (offsets 1000..21000 all busy)")
    sb = None
    try:
        sb = start_sandbox(directory, offsets)
        _ACTIVE_SANDBOXES.append(sb)
        yield sb
    finally:
        if sb is not None:
            _ACTIVE_SANDBOXES.remove(sb)
        stop_sandbox(directory)
        if os.environ.get("MAILTAP_KEEP_SANDBOX") != "1":
            shutil.rmtree(directory, ignore_errors=True)
            # when the state had to live elsewhere, tools/sandbox.sh left a symlink "state"
            if sb is not None and Path(sb.info.get("state_dir", directory)) != directory:
                shutil.rmtree(sb.info["state_dir"], ignore_errors=True)


@pytest.fixture(scope="session")
def mailtap_bin():
    path = os.environ.get("MAILTAP_BIN")
    if not path:
        pytest.skip("MAILTAP_BIN is not set: point it at the built mailtap binary "
                    "(e.g. MAILTAP_BIN=build/mailtap)")
    resolved = shutil.which(path) or path
    if not (os.path.isfile(resolved) and os.access(resolved, os.X_OK)):
        pytest.fail(f"MAILTAP_BIN={path} is not an executable file")
    return os.path.abspath(resolved)


@pytest.fixture
def proxy(request, mailtap_bin, tmp_path_factory):
    """Factory: proxy(service, ...) or proxy(upstream="host:port", proto=..., ...).

    service        a sandbox service name (smtp, submission, smtps, imap, imaps, pop3, pop3s):
                   sets upstream, proto and upstream_tls from the sandbox, and client_tls to the
                   same mode as the upstream unless given.
    upstream_ca    defaults to the sandbox CA when a service is named; None for no --upstream-ca.
    extra_args     more flags for `mailtap proxy` (e.g. ["--insecure"], ["--max-line", "100"]).
    """
    started = []

    def factory(service: str | None = None, *, upstream: str | None = None,
                proto: str | None = None, client_tls: str | None = None,
                upstream_tls: str | None = None, upstream_ca=_DEFAULT, extra_args=(),
                start_timeout: float = 20):
        sb = None
        if service is not None:
            sb = request.getfixturevalue("sandbox")
            upstream = upstream or f"127.0.0.1:{sb.port(service)}"
            proto = proto or SERVICE_PROTOCOL[service]
            upstream_tls = upstream_tls or SERVICE_TLS[service]
            client_tls = client_tls or upstream_tls
        if not (upstream and proto and client_tls and upstream_tls):
            raise ValueError("proxy(): give a sandbox service, or upstream, proto, client_tls "
                             "and upstream_tls")
        if upstream_ca is _DEFAULT:
            upstream_ca = sb.ca if sb is not None else None
        workdir = tmp_path_factory.mktemp(f"proxy-{proto}-")
        p = start_proxy(mailtap_bin, workdir, proto=proto, upstream=upstream,
                        client_tls=client_tls, upstream_tls=upstream_tls,
                        upstream_ca=upstream_ca, extra_args=extra_args,
                        start_timeout=start_timeout)
        started.append(p)
        return p

    yield factory

    problems = []
    for p in started:
        try:
            p.stop()
        except AssertionError as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n".join(problems))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of the Postfix and Dovecot logs to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when in ("call", "teardown") and _ACTIVE_SANDBOXES:
        if {"sandbox", "proxy"} & set(getattr(item, "fixturenames", ())):
            for sb in _ACTIVE_SANDBOXES:
                report.sections.append((f"sandbox logs ({sb.dir})", sb.log_tail()))
