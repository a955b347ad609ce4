"""The seeds' sessions, run through the proxy against the sandbox, explained by `mailtap show`.

Issue 3 is done when "the seeds' sessions, run through the proxy against the sandbox, produce
transcripts whose `mailtap show` rendering explains every step the seed explains by hand, and
more". The seeds are the telnet / openssl s_client walkthroughs in ../shared/seeds/; their
sessions are examples/scripts/*.mtscript (plus a few short scripts below for the steps the seeds
show that the examples do not: a refused AUTH, STARTTLS demanded first). Each test plays one
session with `mailtap run` pointed at `mailtap proxy`, renders the proxy's transcript with
`mailtap show` as text and as markdown, and checks that every statement the seed makes by hand
appears there, in the order of the session.

The statements, per seed (S0 = 000 telnet-mail, S1 = 001 IMAP with telnet, S2 = 002 telnet and an
SMTP server, S3 = 003 sending and receiving, S4 = 004 telnet with TLS and authentication):

SMTP
  S2    220 means the service is ready; the server gives its name; "ESMTP" means the extended
        command set; "Postfix" is the server software.
  S2    HELO: the plain command set, 250 okay.  EHLO: the server lists its extensions, one per
        line; the AUTH line lists the authentication mechanisms.           (S0, S4: the list)
  S0 S4 STARTTLS with s_client: TLS version, cipher, certificate subject, verification OK.
  S0 S2 S3 S4  AUTH LOGIN: 334 VXNlcm5hbWU6 is base64 for "Username:", the client answers with
        the base64 user name, 334 UGFzc3dvcmQ6 is "Password:", then the base64 password;
        334 is a server challenge.
  S2 S4 AUTH PLAIN: base64 of NUL user NUL password, in the command (method 1) or after an
        empty 334 (method 2).
  S0 S2 S3  235 2.7.0: authentication successful, sending is permitted.
  S2    535 5.7.8: the credentials are invalid; start AUTH again.
  S3    a server that requires TLS asks for STARTTLS first (530).
  S2    MAIL FROM sets the Return-Path; RCPT TO names the recipient (S2, S4: lower case works).
  S0 S2 S3 S4  DATA: 354, end with a "." on a line of its own; headers then body.
  S0 S2 S4  250 after the message: queued, with the queue id the server's logs use.
  S0 S2 S3  QUIT: 221, the connection is closed.
  S4    port 465: TLS from the first byte.
IMAP
  S0 S1 greeting with the capability list; a tag on every command, sent back on the final line;
        untagged "*" data before it.
  S0 S1 LOGIN user password; OK [CAPABILITY ...] Logged in.
  S0 S1 LIST "" "*": one line per mailbox with its flags and hierarchy delimiter.
  S0 S1 EXAMINE: FLAGS, PERMANENTFLAGS (), EXISTS, RECENT, UNSEEN, UIDVALIDITY, UIDNEXT,
        OK [READ-ONLY].
  S0 S1 FETCH 1 BODY[]: the message as a {size} literal, then ")" and OK.
  S0    port 143: ". LOGIN hello world" typed in cleartext (tag "."; the seed shows no answer).
  S1    LOGOUT: * BYE, then OK.
  S0    port 993: TLS from the first byte (s_client).
POP3
  S3    +OK greeting; USER then PASS; LIST; RETR n returns the message; QUIT signs off.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandbox import REPO_DIR, run
from transcript_checks import validate_transcripts

SCRIPTS = REPO_DIR / "examples" / "scripts"


# --- playing a seed and reading what mailtap show says ------------------------------------------


def play(mailtap_bin: str, p, script: Path, tls: str, *args: str, expect_ok: bool = True) -> str:
    """`mailtap run SCRIPT` against the proxy `p`, trusting the proxy's CA; returns its output."""
    cmd = [mailtap_bin, "run", str(script), "--target", f"127.0.0.1:{p.port}", "--tls", tls,
           "--upstream-ca", str(p.ca_pem), "--sni", "localhost", "--no-transcripts",
           "--color", "never", "--timeout", "30", *args]
    result = run(cmd, timeout=120, check=False)
    if expect_ok:
        assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def unescape_markdown(md: str) -> str:
    """The markdown renderer escapes \\ | * _ ` < > [ ] outside code spans; read it as text."""
    return re.sub(r"\\([\\|*_`<>\[\]])", r"\1", md)


class Rendering:
    """`mailtap show` of one transcript, as text and as markdown."""

    def __init__(self, mailtap_bin: str, path: Path):
        self.path = path
        self.text = run([mailtap_bin, "show", "--color", "never", str(path)], timeout=60).stdout
        md = run([mailtap_bin, "show", "--format", "markdown", str(path)], timeout=60).stdout
        self.markdown = unescape_markdown(md)

    def explains(self, *steps: str | re.Pattern) -> None:
        """Each step is in both renderings, in this order."""
        for name, out in (("text", self.text), ("markdown", self.markdown)):
            at = 0
            for step in steps:
                if isinstance(step, re.Pattern):
                    m = step.search(out, at)
                    found = m.start() if m else -1
                    end = m.end() if m else -1
                else:
                    found = out.find(step, at)
                    end = found + len(step)
                if found < 0:
                    earlier = (step.search(out) if isinstance(step, re.Pattern)
                               else step in out)
                    where = "appears only earlier" if earlier else "is missing"
                    pytest.fail(f"`mailtap show --format {name}` of {self.path.name}: {step!r} "
                                f"{where}\n--- rendering ---\n{out}")
                at = end

    def tls_before_client_speaks(self, first_command: str) -> None:
        """Implicit TLS: both legs' handshakes are shown before the client's first command. (The
        server's greeting may be listed before the client leg's handshake: mailtap relays it as
        soon as it reads it, and it reaches the client inside TLS once that handshake is done.)"""
        for name, out in (("text", self.text), ("markdown", self.markdown)):
            server = re.search(r"TLS server leg TLSv1\.[23] .*verif(y=|ication )?verified", out)
            client = re.search(r"TLS client leg TLSv1\.[23] ", out)
            command = out.find(first_command)
            assert server and client and command >= 0, f"{name}:\n{out}"
            assert server.start() < command and client.start() < command, f"{name}:\n{out}"

    def never_shows(self, *secrets: str) -> None:
        for s in secrets:
            assert s not in self.text and s not in self.markdown, f"{s!r} is shown"


def rendered(mailtap_bin, p) -> list[Rendering]:
    transcripts = validate_transcripts(p)  # stops the proxy: every file is complete
    assert transcripts
    return [Rendering(mailtap_bin, f) for f in p.transcript_files()]


def one(mailtap_bin, p) -> Rendering:
    [r] = rendered(mailtap_bin, p)
    return r


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- SMTP -----------------------------------------------------------------------------------


EHLO_EXTENSIONS = [
    "250-mail.sandbox.test: the server's name; its extensions follow, one per line",
    "extension PIPELINING: commands may be sent in batches without waiting for each reply",
    "extension SIZE 52428800: the largest message accepted, in bytes",
]


def test_seeds_000_003_004_smtp_auth_login_over_starttls(sandbox, proxy, mailtap_bin):
    """S0 "SMTP 587" (s_client -starttls smtp), S3 sending on 587, S4 AUTH LOGIN."""
    alice = sandbox.user("alice")
    p = proxy("submission")
    play(mailtap_bin, p, SCRIPTS / "smtp-auth-login.mtscript", "starttls",
         "--var", "to=alice@sandbox.test")
    r = one(mailtap_bin, p)
    r.explains(
        # S2: the greeting spelled out.
        "220 mail.sandbox.test ESMTP Postfix",
        "220: service ready (greeting: mail.sandbox.test ESMTP Postfix (mailtap sandbox)): "
        "the server calls itself mail.sandbox.test",
        '"ESMTP": it accepts the extended command set, so EHLO is the greeting to use',
        "software: Postfix",
        # EHLO before TLS: the extensions, STARTTLS among them.
        "EHLO localhost",
        "Client introduces itself as localhost and asks for the extended command set",
        *EHLO_EXTENSIONS,
        "extension STARTTLS: this connection can be switched to TLS",
        "lists its extensions: PIPELINING",
        # S0 S4: s_client's STARTTLS, with what s_client prints about the certificate.
        "STARTTLS",
        "Client asks to switch this connection to TLS (STARTTLS)",
        re.compile(r"TLS server leg TLSv1\.[23] \S+ peer=\"CN=localhost,O=mailtap sandbox\" "
                   r"verify=verified"),
        "220 2.0.0 Ready to start TLS",
        "the TLS handshake follows, after which the client must send EHLO again",
        re.compile(r"TLS client leg TLSv1\.[23] "),
        # After TLS the list has AUTH, with its mechanisms (S2: "the AUTH line").
        "EHLO localhost",
        "extension AUTH PLAIN LOGIN CRAM-MD5: SASL authentication mechanisms offered",
        # AUTH LOGIN, the seeds' base64 by hand.
        "AUTH LOGIN",
        "Client starts LOGIN authentication",
        "334 VXNlcm5hbWU6",
        '334 VXNlcm5hbWU6 is base64 for "Username:": the server asks for the user name',
        "YWxpY2U=",
        'YWxpY2U= is base64 for "alice": the user name',
        "334 UGFzc3dvcmQ6",
        '334 UGFzc3dvcmQ6 is base64 for "Password:": the server asks for the password',
        "The password, base64-encoded: <redacted len=12 ",
        "235 2.7.0 Authentication successful",
        '235: authentication successful; LOGIN authentication as "alice" succeeded',
        # The envelope.
        "MAIL FROM:<alice@sandbox.test>",
        "Sender (envelope from) alice@sandbox.test: bounces go back to it "
        "(the receiving server records it as Return-Path)",
        "250 2.1.0 Ok",
        "(reply to MAIL)",
        "RCPT TO:<alice@sandbox.test>",
        "Recipient alice@sandbox.test (envelope to",
        "2.1.5: destination address valid",
        # DATA, the message, the dot.
        "DATA",
        "Client asks to send the message content",
        "354: start mail input; end with <CRLF>.<CRLF>",
        "Subject: Hello from mailtap run",
        re.compile(r"End of message: \d+ bytes, Subject: Hello from mailtap run \S+, "
                   r"From: alice@sandbox\.test \(\d+ bytes on the wire: lines starting with \"\.\" "
                   r"were sent with an extra dot\)"),
        re.compile(r"250 2\.0\.0 Ok: queued as (?P<id>[0-9A-F]+)"),
        re.compile(r"the message is accepted: 2\.0\.0 Ok: queued as [0-9A-F]+ \(the server now "
                   r"owns the message and has queued it for delivery under the id [0-9A-F]+, "
                   r"which its logs use\)"),
        # QUIT and the close.
        "QUIT",
        "Client ends the session",
        "221: service closing the connection",
        "close server leg by server",
    )
    # The seed's own words for the password never appear; the user name does (not a secret).
    r.never_shows(alice.password, "YWxpY2Utc2VjcmV0")
    # Latency per command, as the issue asks of `mailtap show`.
    assert re.search(r"\[latency \d+(\.\d+)? (us|ms|s)\]", r.text)


def test_seed_002_helo_on_port_25(sandbox, proxy, mailtap_bin):
    """S2 "Saying HELO" (and S0 "SMTP 25"): HELO, the envelope, DATA, no authentication."""
    p = proxy("smtp", client_tls="plain", upstream_tls="plain")
    play(mailtap_bin, p, SCRIPTS / "smtp-port25-helo.mtscript", "plain")
    r = one(mailtap_bin, p)
    r.explains(
        "220: service ready (greeting",
        "HELO localhost",
        "Client introduces itself as localhost (plain SMTP, no extensions)",
        "250: requested mail action okay, completed (reply to HELO)",
        "Sender (envelope from) someone@example.org",
        "Recipient alice@sandbox.test",
        "354: start mail input",
        re.compile(r"End of message: \d+ bytes, Subject: port 25 from mailtap run"),
        "the message is accepted",
        "queued it for delivery under the id",
        "221: service closing the connection",
    )


def test_seeds_002_004_auth_plain_in_the_command(sandbox, proxy, mailtap_bin):
    """S2 "AUTH PLAIN method 1", S4 "Using PLAIN" on port 465 (s_client -connect :465)."""
    alice = sandbox.user("alice")
    p = proxy("smtps")
    play(mailtap_bin, p, SCRIPTS / "smtp-auth-plain.mtscript", "implicit",
         "--var", "to=alice@sandbox.test")
    r = one(mailtap_bin, p)
    # S4 port 465: TLS from the first byte.
    r.tls_before_client_speaks("EHLO localhost")
    r.explains(
        "220 mail.sandbox.test ESMTP Postfix",
        re.compile(r"AUTH PLAIN <redacted len=\d+ h=[0-9a-f]+>"),
        "Client starts PLAIN authentication with an initial response: PLAIN credentials: "
        'user "alice", password <redacted len=12 ',
        "(base64 of authzid NUL user NUL password: anyone who sees it has the password)",
        '235: authentication successful; PLAIN authentication as "alice" succeeded',
        # S2, S4: "rcpt to" in lower case, as s_client users must type it, is still RCPT.
        "rcpt to:<alice@sandbox.test>",
        "Recipient alice@sandbox.test",
        "354: start mail input",
        "From: me <alice@sandbox.test>",
        "Subject: AUTH PLAIN from mailtap run",
        re.compile(r"End of message: \d+ bytes, Subject: AUTH PLAIN from mailtap run \S+, "
                   r"From: me <alice@sandbox\.test>"),
        "queued as",
        "221: service closing the connection",
    )
    # The blob the seeds build with `echo -ne "\0user\0password" | base64` is never shown.
    r.never_shows(alice.password, "AGFsaWNlAGFsaWNlLXNlY3JldA==")


def test_seed_002_auth_plain_after_an_empty_challenge_and_pipelining(sandbox, proxy, mailtap_bin):
    """S2 "AUTH PLAIN method 2": AUTH PLAIN, 334 with nothing, then the blob on its own line.
    The script also pipelines MAIL and RCPT (the EHLO reply offers PIPELINING)."""
    alice = sandbox.user("alice")
    p = proxy("submission")
    play(mailtap_bin, p, SCRIPTS / "smtp-auth-plain-prompted.mtscript", "starttls")
    r = one(mailtap_bin, p)
    r.explains(
        "AUTH PLAIN",
        "Client starts PLAIN authentication",
        "334 Empty challenge: the server waits for the client's PLAIN message",
        re.compile(r"C( \(TLS\))?\W+<redacted len=\d+ h=[0-9a-f]+>"),  # the blob, alone
        'PLAIN credentials: user "alice", password <redacted len=12 ',
        '235: authentication successful; PLAIN authentication as "alice" succeeded',
        "MAIL FROM:<alice@sandbox.test>",
        "RCPT TO:<alice@sandbox.test>",
        "(pipelined: sent before the reply to MAIL)",
        "250 2.1.0 Ok",
        "(reply to MAIL)",
        "250 2.1.5 Ok",
        "(reply to RCPT)",
    )
    r.never_shows(alice.password, "AGFsaWNlAGFsaWNlLXNlY3JldA==")


def test_seed_002_refused_credentials(sandbox, proxy, mailtap_bin, tmp_path):
    """S2: "535 5.7.8 Error: authentication failed: ... the 535 code indicates that the
    authentication credentials are invalid. To resume from this we need to restart our
    authentication"."""
    p = proxy("submission")
    wrong = script(tmp_path, "wrong-password.mtscript", """\
S: 220 *
C: EHLO localhost
S: 250
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: ${base64:alice}
S: 334 UGFzc3dvcmQ6
C: ${base64:not-the-password}
S: 535*
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: *
S: 501*
C: QUIT
S: 221*
""")
    play(mailtap_bin, p, wrong, "starttls")
    r = one(mailtap_bin, p)
    r.explains(
        '334 VXNlcm5hbWU6 is base64 for "Username:"',
        'is base64 for "alice": the user name',
        '334 UGFzc3dvcmQ6 is base64 for "Password:"',
        "The password, base64-encoded: <redacted",
        "535 5.7.8 Error: authentication failed",
        "535: authentication credentials invalid (5.7.8: authentication credentials invalid)",
        'LOGIN authentication as "alice" failed',
        # Starting over, then cancelling with "*" (RFC 4954 4).
        "AUTH LOGIN",
        "Client starts LOGIN authentication",
        "cancel",
        "221: service closing the connection",
    )
    r.never_shows("not-the-password", "bm90LXRoZS1wYXNzd29yZA==")


def test_seed_003_server_requires_starttls_first(sandbox, proxy, mailtap_bin, tmp_path):
    """S3: with a server that requires TLS, "Telnet will ask to issue a STARTTLS command before
    proceeding to any commands in sending mail"."""
    p = proxy("submission", client_tls="plain", upstream_tls="plain")
    cleartext = script(tmp_path, "no-starttls.mtscript", """\
S: 220 *
C: EHLO localhost
S: 250
C: MAIL FROM:<alice@sandbox.test>
S: 530*
C: QUIT
S: 221*
""")
    play(mailtap_bin, p, cleartext, "plain")
    r = one(mailtap_bin, p)
    r.explains(
        "extension STARTTLS: this connection can be switched to TLS",
        "530 5.7.0 Must issue a STARTTLS command first",
        "530: authentication required (or STARTTLS first)",
        "(reply to MAIL)",
    )


# --- IMAP -----------------------------------------------------------------------------------


def imap_steps(literal_size: re.Pattern) -> list:
    return [
        "* OK [CAPABILITY IMAP4rev1",
        "the server greets the client and waits for it to log in; the server supports IMAP4rev1",
        "a1 LOGIN alice <redacted len=12 ",
        'a1 LOGIN: the client logs in as "alice" (password redacted)',
        "a1 OK [CAPABILITY IMAP4rev1",
        re.compile(r"a1 OK: LOGIN completed in \d+(\.\d+)? (us|ms|s) \(Logged in\); "
                   r"the server supports .*; logged in as alice"),
        'a2 LIST "" "*"',
        'a2 LIST: the client lists mailboxes matching "*"',
        # S1: "untagged responses ... don't represent the completion of a command".
        re.compile(r'\* LIST: mailbox "[^"]+" .*\(untagged "\*": data for a2 LIST, not its '
                   r'completion; the line tagged a2 ends it\)'),
        re.compile(r"a2 OK: LIST completed in .*; \d+ mailbox"),
        "a3 EXAMINE INBOX",
        'a3 EXAMINE: the client opens read-only "INBOX"',
        "* FLAGS: flags used in this mailbox: \\Answered \\Flagged \\Deleted \\Seen \\Draft",
        "* OK: no flag changes can be saved permanently (Read-only mailbox.)",
        re.compile(r"\* \d+ EXISTS: the mailbox holds \d+ messages?"),
        re.compile(r"\* \d+ RECENT: \d+ messages? (is|are) new since the last session"),
        re.compile(r"\* OK: UID validity \d+ \(UIDs stay valid while it is unchanged\)"),
        re.compile(r"\* OK: the next message will get UID \d+"),
        re.compile(r"a3 OK: EXAMINE completed in .*\"INBOX\": \d+ messages?.*read-only"),
        "a4 FETCH 1 BODY[]",
        "a4 FETCH: the client fetches BODY[] of message 1",
        re.compile(r"\* 1 FETCH: BODY\[\] as a \d+-byte literal follows"),
        literal_size,
        "Subject: ",
        re.compile(r"\* 1 FETCH: message 1: BODY\[\] \(\d+ bytes, Subject: [^,]+, From: "),
        re.compile(r"a4 OK: FETCH completed in .*; 1 message"),
        "a5 LOGOUT",
        "a5 LOGOUT: the client ends the session",
        "* BYE: the server is closing the connection (Logging out)",
        "the session is over",
    ]


def deliver(sandbox, subject: str) -> None:
    """A message in alice's mailbox, sent directly to the sandbox (the scripts FETCH/RETR 1)."""
    alice = sandbox.user("alice")
    run(["swaks", "--server", f"127.0.0.1:{sandbox.port('submission')}", "-tls",
         "--tls-ca-path", str(sandbox.ca), "--auth", "PLAIN", "--auth-user", alice.login,
         "--auth-password", alice.password, "--from", alice.address, "--to", alice.address,
         "--header", f"Subject: {subject}"], timeout=60)
    sandbox.wait_for_message(subject)


def test_seeds_000_001_imap_over_implicit_tls(sandbox, proxy, mailtap_bin):
    """S0 "IMAP 993" (s_client -connect :993) and S1's session: LOGIN, LIST, EXAMINE, FETCH,
    LOGOUT, each command tagged and its completion carrying the tag back."""
    alice = sandbox.user("alice")
    deliver(sandbox, "seed 001 message")
    p = proxy("imaps")
    play(mailtap_bin, p, SCRIPTS / "imap-login-list-examine-fetch.mtscript", "implicit")
    r = one(mailtap_bin, p)
    r.tls_before_client_speaks("a1 LOGIN")
    r.explains(*imap_steps(re.compile(r"<literal \d+ bytes>")))
    r.explains('* LIST: mailbox "INBOX" (\\HasNoChildren; hierarchy delimiter ".")')
    r.never_shows(alice.password)


def test_seed_000_imap_on_143_with_starttls(sandbox, proxy, mailtap_bin):
    """S0 "IMAP 143": the greeting offers STARTTLS and LOGINDISABLED; mailtap run upgrades
    first, as a careful client must, and the same session follows over TLS."""
    alice = sandbox.user("alice")
    deliver(sandbox, "seed 000 message")
    p = proxy("imap")
    play(mailtap_bin, p, SCRIPTS / "imap-login-list-examine-fetch.mtscript", "starttls")
    r = one(mailtap_bin, p)
    r.explains(
        "STARTTLS",
        "the server offers authentication",  # warning: AUTH offered before TLS
        "STARTTLS: the client asks to switch the connection to TLS",
        "TLS starts now, and the client must ask for the capabilities again",
        re.compile(r"TLS client leg TLSv1\.[23] "),
        *imap_steps(re.compile(r"<literal \d+ bytes>"))[2:],
    )
    r.explains('* LIST: mailbox "INBOX" (\\HasNoChildren; hierarchy delimiter ".")')
    # Both legs are encrypted when LOGIN is sent: no false alarm.
    assert "credentials_before_tls" not in r.text
    r.never_shows(alice.password)


def test_seed_000_imap_login_in_cleartext_on_143(sandbox, proxy, mailtap_bin, tmp_path):
    """S0 "IMAP 143": telnet to 143 and `. LOGIN hello world`, with "." as the tag. The seed
    shows no answer; mailtap shows it, and says what the seed does not: the password crossed
    the network in cleartext, and the server offered authentication before TLS."""
    alice = sandbox.user("alice")
    p = proxy("imap", client_tls="plain", upstream_tls="plain")
    telnet = script(tmp_path, "imap-143.mtscript", f"""\
S: * OK [CAPABILITY IMAP4rev1 *] Dovecot* ready.
C: . LOGIN {alice.login} {alice.password}
S: . OK *
C: . LOGOUT
S: * BYE *
S: . OK *
""")
    play(mailtap_bin, p, telnet, "plain")
    r = one(mailtap_bin, p)
    r.explains(
        "the server greets the client and waits for it to log in",
        "auth_offered_cleartext: the server offers authentication",
        ". LOGIN alice <redacted len=12 ",
        '. LOGIN: the client logs in as "alice" (password redacted)',
        "credentials_before_tls: . LOGIN sends credentials for alice in cleartext on both legs "
        "(client and server)",
        re.compile(r"\. OK: LOGIN completed in .*; logged in as alice"),
        ". LOGOUT: the client ends the session",
        '* BYE: the server is closing the connection (Logging out) (untagged "*": data for . '
        'LOGOUT, not its completion; the line tagged . ends it)',
        "the session is over",
    )
    assert "dropped by mailtap; dropped by mailtap" not in r.text
    r.never_shows(alice.password)


# --- POP3 -----------------------------------------------------------------------------------


def test_seed_003_pop3_user_pass_list_retr(sandbox, proxy, mailtap_bin):
    """S3 "Receiving Email": +OK greeting, USER, PASS, LIST, RETR, QUIT."""
    alice = sandbox.user("alice")
    deliver(sandbox, "seed 003 message")
    p = proxy("pop3")
    play(mailtap_bin, p, SCRIPTS / "pop3-user-pass-list-retr.mtscript", "starttls")
    r = one(mailtap_bin, p)
    r.explains(
        "+OK Dovecot (Debian) ready.",
        "+OK: the server greets the client and waits for it to log in",
        "STLS",
        "TLS starts now",
        re.compile(r"TLS client leg TLSv1\.[23] "),
        "USER alice",
        'USER: the client names the mailbox user "alice" (the password comes next)',
        "the server waits for the password",
        "PASS <redacted len=12 ",
        "PASS: the client sends the password (redacted)",
        "logged in as alice",
        "LIST",
        "LIST: the client asks for the size of every message",
        re.compile(r"message 1: \d+ bytes"),
        re.compile(r"end of the LIST reply: \d+ messages?, \d+ bytes"),
        "RETR 1",
        "RETR: the client downloads message 1",
        re.compile(r"\+OK \d+ octets"),
        re.compile(r"RETR 1 succeeded in .*\(\d+ octets\); the server announces \d+ bytes; "
                   r"the message follows"),
        re.compile(r"<body \d+ bytes"),
        "Subject: ",
        re.compile(r"end of the message \(RETR 1\): \d+ bytes, Subject: "),
        "QUIT",
        "QUIT: the client ends the session",
        "+OK Logging out.",
        "the session is over",
    )
    assert "credentials_before_tls" not in r.text
    r.never_shows(alice.password)
