// SaslExchange against the example exchanges of the RFCs that define each mechanism.
#include "mailtap/decode/sasl.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mailtap/decode/redaction.h"

namespace mailtap::decode {
namespace {

using std::string_literals::operator""s;

DecodeOptions redacting() { return DecodeOptions{}; }

DecodeOptions revealing() {
  DecodeOptions o;
  o.reveal_secrets = true;
  return o;
}

const nlohmann::json& fields(const SaslStep& step) { return step.decoded.at("fields"); }

bool has_warning(const SaslStep& step, const std::string& code) {
  for (const auto& w : step.warnings) {
    if (w.at("code") == code) return true;
  }
  return false;
}

TEST(SaslBase64, RoundTripsAndRejectsGarbage) {
  for (std::string s : {""s, "a"s, "ab"s, "abc"s, "abcd"s, "\0tim\0tanstaaftanstaaf"s}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_decode("VXNlcm5hbWU6"), "Username:");
  EXPECT_EQ(base64_decode("aGVsbG8"), "hello");  // padding optional
  EXPECT_FALSE(base64_decode("aGVsbG8=x").has_value());
  EXPECT_FALSE(base64_decode("a").has_value());
  EXPECT_FALSE(base64_decode("aGV sbG8=").has_value());
  EXPECT_FALSE(base64_decode("a===").has_value());
}

// RFC 4616 section 4: "\0tim\0tanstaaftanstaaf" and "Ursel\0Kurt\0xipj3plmq".
TEST(SaslPlain, Rfc4616ExamplesRedactPasswordNotUser) {
  SaslExchange ex("plain", redacting());
  SaslStep step = ex.client_response("AHRpbQB0YW5zdGFhZnRhbnN0YWFm", /*initial=*/true);
  EXPECT_EQ(step.decoded["mechanism"], "PLAIN");
  EXPECT_EQ(step.decoded["step"], 1);
  EXPECT_EQ(step.decoded["role"], "client");
  EXPECT_EQ(step.decoded["initial_response"], true);
  EXPECT_EQ(fields(step)["authzid"], "");
  EXPECT_EQ(fields(step)["authcid"], "tim");
  EXPECT_TRUE(is_redaction_token(fields(step)["password"].get<std::string>()));
  EXPECT_EQ(fields(step)["password"], redact("tanstaaftanstaaf", redacting()));
  EXPECT_TRUE(step.carries_secret);
  EXPECT_EQ(step.wire_replacement, redact("AHRpbQB0YW5zdGFhZnRhbnN0YWFm", redacting()));
  EXPECT_EQ(step.note.find("tanstaaf"), std::string::npos) << step.note;
  EXPECT_NE(step.note.find("\"tim\""), std::string::npos) << step.note;
  EXPECT_EQ(ex.user(), "tim");

  SaslStep done = ex.finish({true, "235", "2.7.0 Authentication successful"});
  EXPECT_EQ(done.decoded["outcome"]["result"], "success");
  EXPECT_EQ(done.decoded["outcome"]["code"], "235");
  EXPECT_NE(done.note.find("succeeded"), std::string::npos);
  EXPECT_TRUE(ex.finished());
  EXPECT_EQ(ex.summary()["user"], "tim");
  EXPECT_EQ(ex.summary()["outcome"]["result"], "success");

  SaslExchange ex2("PLAIN", revealing());
  SaslStep s2 = ex2.client_response("VXJzZWwAS3VydAB4aXBqM3BsbXE=");
  EXPECT_EQ(fields(s2)["authzid"], "Ursel");
  EXPECT_EQ(fields(s2)["authcid"], "Kurt");
  EXPECT_EQ(fields(s2)["password"], "xipj3plmq");
  EXPECT_TRUE(s2.carries_secret);
  EXPECT_FALSE(s2.redacted());
}

TEST(SaslPlain, MalformedAndEmptyAreReportedNotThrown) {
  SaslExchange ex("PLAIN", redacting());
  SaslStep two = ex.client_response(base64_encode("only\0two"s));
  EXPECT_TRUE(has_warning(two, "sasl_malformed"));
  EXPECT_TRUE(two.redacted());
  SaslStep bad = ex.client_response("!!notbase64!!");
  EXPECT_TRUE(has_warning(bad, "sasl_bad_base64"));
  EXPECT_TRUE(bad.redacted()) << "undecodable client text may be a password typed in clear";
  SaslStep empty = ex.client_response("=");
  EXPECT_TRUE(has_warning(empty, "sasl_malformed"));
  EXPECT_FALSE(empty.redacted());
}

// The walkthroughs in the seeds: 334 VXNlcm5hbWU6 / aGVsbG8= / 334 UGFzc3dvcmQ6 / d29ybGQ=.
TEST(SaslLogin, BothPromptsDecodedUserShownPasswordRedacted) {
  SaslExchange ex("LOGIN", redacting());
  SaslStep p1 = ex.server_challenge("VXNlcm5hbWU6");
  EXPECT_EQ(p1.decoded["role"], "server");
  EXPECT_EQ(fields(p1)["prompt"], "Username:");
  EXPECT_EQ(p1.note.rfind("VXNlcm5hbWU6 is base64 for \"Username:\"", 0), 0u) << p1.note;
  SaslStep u = ex.client_response("aGVsbG8=");
  EXPECT_EQ(fields(u)["username"], "hello");
  EXPECT_FALSE(u.carries_secret);
  EXPECT_FALSE(u.redacted());
  EXPECT_NE(u.note.find("aGVsbG8= is base64 for \"hello\""), std::string::npos) << u.note;
  SaslStep p2 = ex.server_challenge("UGFzc3dvcmQ6");
  EXPECT_EQ(fields(p2)["prompt"], "Password:");
  EXPECT_NE(p2.note.find("password"), std::string::npos);
  SaslStep pw = ex.client_response("d29ybGQ=");
  EXPECT_EQ(fields(pw)["password"], redact("world", redacting()));
  EXPECT_TRUE(pw.redacted());
  EXPECT_EQ(pw.note.find("world"), std::string::npos) << pw.note;
  EXPECT_EQ(pw.decoded["step"], 4);
  SaslStep fail = ex.finish({false, "535", "5.7.8 Error: authentication failed"});
  EXPECT_EQ(fail.decoded["outcome"]["result"], "failure");
  EXPECT_NE(fail.note.find("\"hello\""), std::string::npos);
  EXPECT_NE(fail.note.find("failed"), std::string::npos);
}

TEST(SaslLogin, InitialResponseIsTheUserNameAndRevealKeepsPassword) {
  SaslExchange ex("LOGIN", revealing());
  SaslStep u = ex.client_response("aGVsbG8=", /*initial=*/true);
  EXPECT_EQ(fields(u)["username"], "hello");
  ex.server_challenge("UGFzc3dvcmQ6");
  SaslStep pw = ex.client_response("d29ybGQ=");
  EXPECT_EQ(fields(pw)["password"], "world");
  EXPECT_NE(pw.note.find("\"world\""), std::string::npos);
  EXPECT_FALSE(pw.redacted());
  EXPECT_TRUE(pw.carries_secret);
}

TEST(SaslCancel, StarCancelsTheExchange) {
  SaslExchange ex("LOGIN", redacting());
  ex.server_challenge("VXNlcm5hbWU6");
  SaslStep c = ex.client_response("*");
  EXPECT_EQ(c.decoded["cancelled"], true);
  EXPECT_TRUE(ex.cancelled());
  EXPECT_FALSE(c.redacted());
  SaslStep done = ex.finish({false, "501", "5.7.0 Authentication aborted"});
  EXPECT_NE(done.note.find("cancelled"), std::string::npos);
  EXPECT_EQ(ex.summary()["cancelled"], true);
}

// RFC 2195 section 2.
TEST(SaslCramMd5, Rfc2195Example) {
  SaslExchange ex("CRAM-MD5", redacting());
  SaslStep ch = ex.server_challenge("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
  EXPECT_EQ(fields(ch)["challenge"], "<1896.697170952@postoffice.reston.mci.net>");
  SaslStep r = ex.client_response("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
  EXPECT_EQ(fields(r)["username"], "tim");
  EXPECT_TRUE(is_redaction_token(fields(r)["digest"].get<std::string>()));
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.dump();
  EXPECT_EQ(ex.user(), "tim");

  SaslExchange shown("CRAM-MD5", revealing());
  SaslStep r2 = shown.client_response("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
  EXPECT_EQ(fields(r2)["digest"], "b913a602c7eda7a495b4e6e7334d3890");
}

// RFC 2831 section 4, example 1 (IMAP).
TEST(SaslDigestMd5, Rfc2831ExampleFieldsParsedResponseRedacted) {
  SaslExchange ex("DIGEST-MD5", redacting());
  SaslStep ch = ex.server_challenge(base64_encode(
      "realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",algorithm=md5-sess,"
      "charset=utf-8"));
  EXPECT_EQ(fields(ch)["realm"], "elwood.innosoft.com");
  EXPECT_EQ(fields(ch)["nonce"], "OA6MG9tEQGm2hh");
  EXPECT_EQ(fields(ch)["algorithm"], "md5-sess");
  SaslStep r = ex.client_response(base64_encode(
      "charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\","
      "nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",digest-uri=\"imap/elwood.innosoft.com\","
      "response=d388dad90d4bbd760a152321f2143af7,qop=auth"));
  EXPECT_EQ(fields(r)["username"], "chris");
  EXPECT_EQ(fields(r)["cnonce"], "OA6MHXh6VqTrRk");
  EXPECT_EQ(fields(r)["digest-uri"], "imap/elwood.innosoft.com");
  EXPECT_EQ(fields(r)["response"], redact("d388dad90d4bbd760a152321f2143af7", redacting()));
  EXPECT_TRUE(r.redacted());
  SaslStep rsp = ex.server_challenge(base64_encode("rspauth=ea40f60335c427b5527b84dbabcdfffd"));
  EXPECT_EQ(fields(rsp)["rspauth"], "ea40f60335c427b5527b84dbabcdfffd");
  SaslStep empty = ex.client_response("");
  EXPECT_FALSE(empty.redacted());
  EXPECT_TRUE(empty.warnings.empty());
}

// RFC 5802 section 5.
TEST(SaslScram, Rfc5802ScramSha1Example) {
  SaslExchange ex("SCRAM-SHA-1", redacting());
  SaslStep c1 = ex.client_response(base64_encode("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
  EXPECT_EQ(fields(c1)["message"], "client-first");
  EXPECT_EQ(fields(c1)["gs2_header"]["cbind_flag"], "n");
  EXPECT_EQ(fields(c1)["username"], "user");
  EXPECT_EQ(fields(c1)["nonce"], "fyko+d2lbbFgONRv9qkxdawL");
  EXPECT_FALSE(c1.redacted());
  SaslStep s1 = ex.server_challenge(base64_encode(
      "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"));
  EXPECT_EQ(fields(s1)["message"], "server-first");
  EXPECT_EQ(fields(s1)["salt"], "QSXCR+Q6sek8bf92");
  EXPECT_EQ(fields(s1)["salt_bytes"], 12);
  EXPECT_EQ(fields(s1)["iterations"], 4096);
  EXPECT_EQ(fields(s1)["nonce_extends_client_nonce"], true);
  EXPECT_TRUE(s1.warnings.empty()) << s1.warnings.dump();
  SaslStep c2 = ex.client_response(base64_encode(
      "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="));
  EXPECT_EQ(fields(c2)["message"], "client-final");
  EXPECT_EQ(fields(c2)["channel_binding"]["gs2_header"], "n,,");
  EXPECT_EQ(fields(c2)["proof"], redact("v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", redacting()));
  EXPECT_TRUE(c2.redacted());
  EXPECT_TRUE(c2.warnings.empty()) << c2.warnings.dump();
  SaslStep s2 = ex.server_challenge(base64_encode("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="));
  EXPECT_EQ(fields(s2)["message"], "server-final");
  EXPECT_EQ(fields(s2)["verifier"], "rmF9pqV8S7suAoZWja4dJRkFsKQ=");
  EXPECT_EQ(ex.user(), "user");
}

// RFC 7677 section 3.
TEST(SaslScram, Rfc7677ScramSha256Example) {
  SaslExchange ex("SCRAM-SHA-256", revealing());
  ex.client_response(base64_encode("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
  SaslStep s1 = ex.server_challenge(base64_encode(
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
  EXPECT_EQ(fields(s1)["salt_bytes"], 16);
  EXPECT_EQ(fields(s1)["nonce_extends_client_nonce"], true);
  SaslStep c2 = ex.client_response(base64_encode(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
  EXPECT_EQ(fields(c2)["proof"], "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_TRUE(c2.carries_secret);
  SaslStep s2 =
      ex.server_challenge(base64_encode("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
  EXPECT_EQ(fields(s2)["verifier"], "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST(SaslScram, PlusChannelBindingMismatchAndWrongNonceWarn) {
  SaslExchange plus("SCRAM-SHA-256-PLUS", redacting());
  SaslStep c1 = plus.client_response(base64_encode("p=tls-exporter,,n=user,r=abc"));
  EXPECT_EQ(fields(c1)["gs2_header"]["cbind_flag"], "p");
  EXPECT_EQ(fields(c1)["gs2_header"]["cbind_name"], "tls-exporter");
  EXPECT_TRUE(c1.warnings.empty());
  SaslStep s1 = plus.server_challenge(base64_encode("r=xyz,s=QSXCR+Q6sek8bf92,i=1000"));
  EXPECT_TRUE(has_warning(s1, "scram_nonce_mismatch"));
  EXPECT_TRUE(has_warning(s1, "scram_low_iterations"));
  SaslStep c2 = plus.client_response(
      base64_encode("c=" + base64_encode("p=tls-exporter,,"s + std::string(32, '\x5a')) +
                    ",r=other,p=cHJvb2Y="));
  EXPECT_EQ(fields(c2)["channel_binding"]["cbind_data_bytes"], 32);
  EXPECT_TRUE(has_warning(c2, "scram_nonce_mismatch"));

  SaslExchange not_bound("SCRAM-SHA-1-PLUS", redacting());
  EXPECT_TRUE(has_warning(not_bound.client_response(base64_encode("n,,n=user,r=abc")),
                          "sasl_channel_binding"));
  SaslExchange error("SCRAM-SHA-1", redacting());
  SaslStep e = error.server_challenge(base64_encode("e=invalid-proof"));
  EXPECT_EQ(fields(e)["error"], "invalid-proof");
}

// Found by tests/fuzz/sasl_fuzz.cc (corpus/sasl/crash-a91d26a2...): a channel-binding name with a
// byte that is not UTF-8 reached a note and a warning raw, and dumping the step's JSON threw.
TEST(SaslScram, InvalidUtf8FromTheWireIsEscapedInEveryText) {
  const std::string bad_name = "tls-exporte\xf2";
  SaslExchange ex("SCRAM-SHA-256-PLUS", redacting());
  std::vector<SaslStep> steps;
  steps.push_back(
      ex.client_response(base64_encode("p=" + bad_name + ",a=adm=2Cin,n=us=3Der,r=abc")));
  steps.push_back(ex.server_challenge(base64_encode("r=abcdef,s=W2sUEjb6gQ==,i=10")));
  steps.push_back(ex.client_response(
      base64_encode("c=" + base64_encode("p=" + bad_name + ",a=x,"s + std::string(8, '\xff')) +
                    ",r=zzz,p=cHJvb2Y=")));
  steps.push_back(ex.finish({false, "535", "\xc3\x28 failed"}, std::nullopt));
  for (const SaslStep& step : steps) {
    EXPECT_NO_THROW((void)step.decoded.dump());
    EXPECT_NO_THROW((void)nlohmann::json(step.note).dump());
    EXPECT_NO_THROW((void)step.warnings.dump());
  }
  EXPECT_EQ(fields(steps[0])["gs2_header"]["cbind_name"], "tls-exporte\\xF2");
  EXPECT_NE(steps[0].note.find("tls-exporte\\xF2"), std::string::npos) << steps[0].note;
  EXPECT_TRUE(has_warning(steps[2], "scram_nonce_mismatch"));
  EXPECT_NO_THROW((void)ex.summary().dump());

  // A mechanism name the client made up is quoted in notes and warnings too.
  SaslExchange odd("X-\xfe\xfe", redacting());
  SaslStep c = odd.client_response("*");
  EXPECT_NO_THROW((void)nlohmann::json(c.note).dump());
  SaslStep late = odd.client_response("AAAA");
  EXPECT_NO_THROW((void)late.warnings.dump());
}

// RFC 7628 sections 4.1 and 4.3.
TEST(SaslOauthBearer, Rfc7628SuccessAndFailure) {
  SaslExchange ex("OAUTHBEARER", redacting());
  std::string ir =
      "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZG"
      "OWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
  SaslStep c = ex.client_response(ir, true);
  EXPECT_EQ(fields(c)["gs2_header"]["authzid"], "user@example.com");
  EXPECT_EQ(fields(c)["host"], "server.example.com");
  EXPECT_EQ(fields(c)["port"], "143");
  EXPECT_EQ(fields(c)["auth_scheme"], "Bearer");
  EXPECT_EQ(fields(c)["token"], redact("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", redacting()));
  EXPECT_TRUE(c.redacted());
  EXPECT_EQ(ex.user(), "user@example.com");
  EXPECT_EQ(c.note.find("vF9dft4q"), std::string::npos);

  SaslStep err = ex.server_challenge(
      "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRp"
      "b24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=");
  EXPECT_EQ(fields(err)["error"]["status"], "invalid_token");
  EXPECT_EQ(fields(err)["error"]["scope"], "example_scope");
  EXPECT_NE(err.note.find("invalid or expired"), std::string::npos) << err.note;
  SaslStep ack = ex.client_response("AQ==");
  EXPECT_FALSE(ack.redacted());
  EXPECT_FALSE(ack.carries_secret);
  SaslStep no = ex.finish({false, "NO", "SASL authentication failed"});
  EXPECT_EQ(no.decoded["outcome"]["code"], "NO");
}

// Google's XOAUTH2 protocol page: the initial client response and the error challenge.
TEST(SaslXoauth2, GoogleExample) {
  SaslExchange ex("XOAUTH2", redacting());
  SaslStep c = ex.client_response(
      "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJo"
      "ZG1semRHRXVZMjl0Q2cBAQ==",
      true);
  EXPECT_EQ(fields(c)["user"], "someuser@example.com");
  EXPECT_EQ(fields(c)["token"],
            redact("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", redacting()));
  EXPECT_TRUE(c.redacted());
  SaslStep err = ex.server_challenge(
      "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5j"
      "b20vIn0K");
  EXPECT_EQ(fields(err)["error"]["status"], "401");
  EXPECT_EQ(fields(err)["error"]["schemes"], "bearer mac");
  EXPECT_EQ(fields(err)["error"]["scope"], "https://mail.google.com/");
  SaslStep ack = ex.client_response("");
  EXPECT_FALSE(ack.carries_secret);
  EXPECT_NE(ack.note.find("acknowledges"), std::string::npos);
}

// RFC 4505 section 3 (trace "sirhc") and RFC 4422 appendix A (EXTERNAL, empty with "=").
TEST(SaslOthers, AnonymousExternalGssapiNtlmUnknown) {
  SaslExchange anon("ANONYMOUS", redacting());
  SaslStep a = anon.client_response("c2lyaGM=");
  EXPECT_EQ(fields(a)["trace"], "sirhc");
  EXPECT_FALSE(a.redacted());

  SaslExchange ext("EXTERNAL", redacting());
  SaslStep e = ext.client_response("=", true);
  EXPECT_EQ(fields(e)["authzid"], "");
  EXPECT_NE(e.note.find("certificate"), std::string::npos);
  SaslExchange ext2("EXTERNAL", redacting());
  EXPECT_EQ(fields(ext2.client_response(base64_encode("fred")))["authzid"], "fred");
  EXPECT_EQ(ext2.user(), "fred");

  SaslExchange gss("GSSAPI", redacting());
  SaslStep g = gss.client_response(base64_encode(std::string("\x60\x82\x02\x10rest", 8)));
  EXPECT_EQ(fields(g)["size"], 8);
  EXPECT_TRUE(g.redacted());
  EXPECT_EQ(fields(gss.server_challenge(base64_encode("\x60\x01\x02"s)))["size"], 3);

  // NTLM: a negotiate (type 1) message, then an authenticate (type 3) message built here with
  // domain "DOM", user "bob", workstation "WS" in UTF-16LE.
  SaslExchange ntlm("NTLM", redacting());
  SaslStep n1 = ntlm.client_response("TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAPAjAAAADw==");
  EXPECT_EQ(fields(n1)["ntlm_type"], 1);
  EXPECT_FALSE(n1.redacted());
  std::string t3("NTLMSSP\0\x03\0\0\0"s);
  auto buffer = [](uint16_t len, uint32_t off) {
    std::string b;
    b += static_cast<char>(len & 0xFF), b += static_cast<char>(len >> 8);
    b += static_cast<char>(len & 0xFF), b += static_cast<char>(len >> 8);
    for (int i = 0; i < 4; ++i) b += static_cast<char>((off >> (8 * i)) & 0xFF);
    return b;
  };
  t3 += buffer(0, 64) + buffer(0, 64) + buffer(6, 64) + buffer(6, 70) + buffer(4, 76) +
        buffer(0, 80);
  t3 += "\x01\0\0\0"s;  // flags: NTLMSSP_NEGOTIATE_UNICODE
  t3 += "D\0O\0M\0b\0o\0b\0W\0S\0"s;
  ASSERT_EQ(t3.size(), 80u);
  SaslStep n3 = ntlm.client_response(base64_encode(t3));
  EXPECT_EQ(fields(n3)["ntlm_type"], 3);
  EXPECT_EQ(fields(n3)["domain"], "DOM");
  EXPECT_EQ(fields(n3)["user"], "bob");
  EXPECT_EQ(fields(n3)["workstation"], "WS");
  EXPECT_EQ(ntlm.user(), "DOM\\bob");
  EXPECT_TRUE(n3.redacted());

  SaslExchange other("X-UNKNOWN", redacting());
  SaslStep o = other.client_response(base64_encode("secret-ish"));
  EXPECT_TRUE(o.redacted()) << "unknown mechanisms are redacted in case they carry a secret";
  EXPECT_EQ(fields(o)["size"], 10);
}

TEST(SaslDescriptions, MechanismsExplainedAndCleartextOnesFlagged) {
  EXPECT_NE(describe_mechanism("plain").find("RFC 4616"), std::string::npos);
  EXPECT_NE(describe_mechanism("SCRAM-SHA-256-PLUS").find("TLS channel"), std::string::npos);
  EXPECT_NE(describe_mechanism("FOO").find("does not decode"), std::string::npos);
  EXPECT_TRUE(mechanism_exposes_secret("login"));
  EXPECT_TRUE(mechanism_exposes_secret("XOAUTH2"));
  EXPECT_FALSE(mechanism_exposes_secret("CRAM-MD5"));
  EXPECT_FALSE(mechanism_exposes_secret("SCRAM-SHA-1"));
}

// The wire text reaches the exchange whole; it must not matter how it was cut before that, and
// any prefix of a valid message (what a truncated line gives) must be handled without a crash.
TEST(SaslSplit, EveryPrefixOfEveryExampleIsHandled) {
  const std::string wires[] = {
      "AHRpbQB0YW5zdGFhZnRhbnN0YWFm",
      "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw",
      base64_encode("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"),
      base64_encode("c=biws,r=fyko,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
      "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJo",
  };
  for (const char* mech : {"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "XOAUTH2",
                           "OAUTHBEARER", "NTLM", "GSSAPI"}) {
    for (const std::string& wire : wires) {
      for (size_t cut = 0; cut <= wire.size(); ++cut) {
        SaslExchange ex(mech, redacting());
        SaslStep s = ex.client_response(wire.substr(0, cut));
        SaslStep c = ex.server_challenge(wire.substr(0, cut));
        EXPECT_EQ(s.decoded["fields"].is_object(), true);
        EXPECT_FALSE(s.decoded.dump().empty());
        EXPECT_FALSE(c.decoded.dump().empty());  // valid UTF-8 whatever the bytes
      }
    }
  }
}

}  // namespace
}  // namespace mailtap::decode
