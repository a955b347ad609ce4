#include "mailtap/diff/normalizer.h"

#include <gtest/gtest.h>

namespace mailtap::diff {
namespace {

TEST(DiffNormalizer, DatesInEveryCommonShape) {
  Normalizer n(Protocol::smtp);
  EXPECT_EQ(n.text("220 mx ESMTP Exim 4.96 Sun, 22 Nov 2026 13:51:30 +0000"),
            "220 mx ESMTP Exim 4.96 <date>");
  EXPECT_EQ(n.text("Date: Mon, 3 Feb 2025 09:05:01 -0800 (PST)"), "Date: <date>");
  EXPECT_EQ(n.text("for <a@b>; 22 Nov 2026 12:37:44 +0000"), "for <a@b>; <date>");
  EXPECT_EQ(n.text("Sun Nov 22 12:53:41 2026 ready"), "<date> ready");
  EXPECT_EQ(n.text("stamp 2026-11-22T12:53:41.848720Z"), "stamp <timestamp>");
  Normalizer imap(Protocol::imap);
  EXPECT_EQ(imap.text("* 1 FETCH (INTERNALDATE \"22-Nov-2026 12:37:44 +0000\")"),
            "* 1 FETCH (INTERNALDATE \"<date>\")");
}

TEST(DiffNormalizer, QueueIdsOfPostfixAndExim) {
  Normalizer n(Protocol::smtp);
  EXPECT_EQ(n.text("250 2.0.0 Ok: queued as 07562A72A11"), "250 2.0.0 Ok: queued as <queue-id>");
  EXPECT_EQ(n.text("250 OK id=1xV7bz-00012X-14"), "250 OK id=<queue-id>");
  EXPECT_EQ(n.text("\tby mail.sandbox.test (Postfix) with ESMTPSA id 8D167A72738"),
            "\tby mail.sandbox.test (Postfix) with ESMTPSA id <queue-id>");
  EXPECT_EQ(n.text("\tid HQ84JhjiAmvpGAAAg+zDdQ"), "\tid <queue-id>");
}

TEST(DiffNormalizer, MessageIdsOnlyInTheirHeaderFields) {
  Normalizer n(Protocol::smtp);
  EXPECT_EQ(n.text("Message-Id: <20261122125341.016877@vm>"), "Message-Id: <message-id>");
  EXPECT_EQ(n.text("In-Reply-To: <x@y>"), "In-Reply-To: <message-id>");
  // an address in angle brackets elsewhere is what the client said: kept
  EXPECT_EQ(n.text("MAIL FROM:<alice@sandbox.test>"), "MAIL FROM:<alice@sandbox.test>");
}

TEST(DiffNormalizer, ImapUidValidityModseqAndObjectIds) {
  Normalizer n(Protocol::imap);
  EXPECT_EQ(n.text("* OK [UIDVALIDITY 1795351064] UIDs valid"),
            "* OK [UIDVALIDITY <uidvalidity>] UIDs valid");
  EXPECT_EQ(n.text("A3 OK [APPENDUID 1795354475 1] Append completed"),
            "A3 OK [APPENDUID <uidvalidity> 1] Append completed");
  EXPECT_EQ(n.text("* OK [HIGHESTMODSEQ 42] Ok"), "* OK [HIGHESTMODSEQ <modseq>] Ok");
  EXPECT_EQ(n.text("* OK [MAILBOXID (wf14o7weg5t0l0tfj36ulvdw)] Ok"),
            "* OK [MAILBOXID (<object-id>)] Ok");
  // the UIDVALIDITY rule is IMAP's; SMTP text is left alone
  EXPECT_EQ(Normalizer(Protocol::smtp).text("UIDVALIDITY 5"), "UIDVALIDITY 5");
}

TEST(DiffNormalizer, ServerTimingsSessionIdsAndNonces) {
  Normalizer n(Protocol::imap);
  EXPECT_EQ(n.text("A5 OK Select completed (0.001 + 0.000 secs)."),
            "A5 OK Select completed (<timing>).");
  EXPECT_EQ(n.text("A6 OK Completed (0.002 secs 3 calls)"), "A6 OK Completed (<timing>)");
  EXPECT_EQ(n.text("OK User logged in SESSIONID=<mtsbx2-1795354131-5036-1-5899274611475540317>"),
            "OK User logged in SESSIONID=<session-id>");
  EXPECT_EQ(n.text("UIDL 1 00000001669ab3c1"), "UIDL 1 <nonce>");
}

TEST(DiffNormalizer, Pop3GreetingTimestampOnlyInTheGreeting) {
  Normalizer n(Protocol::pop3);
  EXPECT_EQ(n.greeting("Cyrus POP3 server ready <7300732844649333655.1795354131@imap2.test>"),
            "Cyrus POP3 server ready <apop-timestamp>");
  EXPECT_EQ(n.text("ready <1.2@host>"), "ready <1.2@host>");
}

TEST(DiffNormalizer, HostsOnlyWhenAsked) {
  const std::string line = "mx2.sandbox.test Hello vm [127.0.0.1]";
  EXPECT_EQ(Normalizer(Protocol::smtp).text(line), line);
  NormalizeOptions o;
  o.ignore_hosts = true;
  EXPECT_EQ(Normalizer(Protocol::smtp, o).text(line), "<host> Hello vm [<ip>]");
}

TEST(DiffNormalizer, UserRulesApplyAfterTheBuiltInOnesAndDropSetElements) {
  NormalizeOptions o;
  o.user_rules.push_back(make_rule("--ignore", "Exim [0-9.]+", "<ignored>"));
  o.user_rules.push_back(make_rule("rules:2", "(Postfix|Exim)", "MTA"));
  Normalizer n(Protocol::smtp, o);
  EXPECT_EQ(n.text("220 mx ESMTP Exim 4.96 Sun, 22 Nov 2026 13:51:30 +0000"),
            "220 mx ESMTP <ignored> <date>");
  EXPECT_EQ(n.text("ESMTP Postfix"), "ESMTP MTA");
  EXPECT_TRUE(n.drops_element("Exim 4.96"));
  EXPECT_FALSE(n.drops_element("PIPELINING"));
}

TEST(DiffNormalizer, BadPatternIsAClearError) {
  try {
    make_rule("--ignore", "(unclosed", "<ignored>");
    FAIL() << "no error";
  } catch (const RuleError& e) {
    EXPECT_NE(std::string(e.what()).find("--ignore"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("(unclosed"), std::string::npos);
  }
}

TEST(DiffNormalizer, VeryLongLinesAreNormalisedInTheirFirstPartOnly) {
  Normalizer n(Protocol::smtp);
  std::string tail(100000, 'x');
  std::string line = "Sun, 22 Nov 2026 13:51:30 +0000 " + tail;
  std::string out = n.text(line);
  EXPECT_EQ(out, "<date> " + tail);
}

}  // namespace
}  // namespace mailtap::diff
