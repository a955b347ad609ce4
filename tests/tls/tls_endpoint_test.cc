// TlsEndpoint against an in-memory peer: a client-role and a server-role endpoint pump bytes to
// each other, so whole handshakes run without sockets.
#include "mailtap/tls/tls_endpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "mailtap/tls/session_cache.h"
#include "tls/tls_test_support.h"

namespace mailtap::tls {
namespace {

using testing::ContextPair;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::pump;
using testing::take_all_plaintext;
using testing::TestCa;

class TlsEndpointTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new TestCa();
    other_ca_ = new TestCa();
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete other_ca_;
    ca_ = other_ca_ = nullptr;
  }

  // A server endpoint presenting a leaf for `upstream_host`, a client expecting `server_name`.
  void connect(const std::string& upstream_host, const std::string& server_name, bool verify = true,
               const TestCa* trusted = nullptr) {
    contexts_ = std::make_unique<ContextPair>(*ca_, trusted ? *trusted : *ca_);
    LeafSpec spec;
    spec.upstream_host = upstream_host;
    server_ = TlsEndpoint::make_server(contexts_->server.get(), spec);
    ClientOptions options;
    options.server_name = server_name;
    options.verify = verify;
    client_ = TlsEndpoint::make_client(contexts_->client.get(), options);
    client_->start();
    server_->start();
  }

  // The client role against a server with one fixed certificate for `certificate_host`.
  void connect_to_fixed_server(const std::string& certificate_host,
                               const std::string& server_name) {
    contexts_ = std::make_unique<ContextPair>(*ca_);
    fixed_server_ = testing::fixed_certificate_server(*ca_->ca, certificate_host);
    server_ = TlsEndpoint::make_server(fixed_server_.get(), LeafSpec{});
    ClientOptions options;
    options.server_name = server_name;
    client_ = TlsEndpoint::make_client(contexts_->client.get(), options);
    client_->start();
    pump(*client_, *server_);
  }

  static TestCa* ca_;
  static TestCa* other_ca_;
  std::shared_ptr<SSL_CTX> fixed_server_;
  std::unique_ptr<ContextPair> contexts_;
  std::unique_ptr<TlsEndpoint> server_;
  std::unique_ptr<TlsEndpoint> client_;
};

TestCa* TlsEndpointTest::ca_ = nullptr;
TestCa* TlsEndpointTest::other_ca_ = nullptr;

TEST_F(TlsEndpointTest, HandshakeCompletesAndReportsBothLegs) {
  connect("localhost", "localhost");
  EXPECT_TRUE(client_->has_encrypted()) << "the client role must emit a ClientHello on start()";
  pump(*client_, *server_);
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  ASSERT_TRUE(server_->handshake_complete()) << server_->error();
  EXPECT_FALSE(client_->failed());
  EXPECT_FALSE(server_->failed());

  TlsInfo upstream = client_->info();
  EXPECT_EQ(upstream.version, "TLSv1.3");
  EXPECT_FALSE(upstream.cipher.empty());
  EXPECT_EQ(upstream.sni, "localhost");
  EXPECT_EQ(upstream.verification, "verified");
  ASSERT_TRUE(upstream.peer_certificate.has_value());
  EXPECT_EQ(upstream.peer_certificate->common_name, "localhost");
  EXPECT_THAT(upstream.peer_certificate->names, ::testing::ElementsAre("localhost"));
  EXPECT_THAT(upstream.peer_certificate->issuer, HasSubstr("mailtap local CA"));
  EXPECT_EQ(upstream.peer_certificate->sha256.size(), 64u);

  TlsInfo client_leg = server_->info();
  EXPECT_EQ(client_leg.version, "TLSv1.3");
  EXPECT_EQ(client_leg.cipher, upstream.cipher);
  EXPECT_EQ(client_leg.sni, "localhost");
  EXPECT_EQ(client_leg.verification, "not applicable");
  EXPECT_FALSE(client_leg.peer_certificate.has_value());
}

TEST_F(TlsEndpointTest, PlaintextFlowsBothWaysIncludingBytesWrittenBeforeTheHandshake) {
  connect("localhost", "localhost");
  // Written before any handshake byte moved: must be held, then sent once TLS is up.
  client_->write_plaintext("EHLO early\r\n");
  server_->write_plaintext("220 early banner\r\n");
  EXPECT_FALSE(server_->has_plaintext());
  pump(*client_, *server_);
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  EXPECT_EQ(take_all_plaintext(*server_), "EHLO early\r\n");
  EXPECT_EQ(take_all_plaintext(*client_), "220 early banner\r\n");

  client_->write_plaintext("QUIT\r\n");
  server_->write_plaintext("221 bye\r\n");
  pump(*client_, *server_);
  EXPECT_EQ(take_all_plaintext(*server_), "QUIT\r\n");
  EXPECT_EQ(take_all_plaintext(*client_), "221 bye\r\n");
  EXPECT_FALSE(server_->has_plaintext());
}

TEST_F(TlsEndpointTest, TakePlaintextAppendsToTheCallersBuffer) {
  connect("localhost", "localhost");
  pump(*client_, *server_);
  client_->write_plaintext("second");
  pump(*client_, *server_);
  std::string buffer = "first ";
  server_->take_plaintext(buffer);
  EXPECT_EQ(buffer, "first second");
  server_->take_plaintext(buffer);
  EXPECT_EQ(buffer, "first second") << "taking twice must not duplicate bytes";
}

TEST_F(TlsEndpointTest, OneMegabytePayloadArrivesIntactBothWays) {
  connect("localhost", "localhost");
  pump(*client_, *server_);
  ASSERT_TRUE(server_->handshake_complete()) << server_->error();
  const std::string up = testing::random_bytes(1 << 20, 1);
  const std::string down = testing::random_bytes(1 << 20, 2);
  // Several writes of odd sizes, as a relay would make them.
  for (size_t at = 0; at < up.size(); at += 70001) {
    client_->write_plaintext(std::string_view(up).substr(at, 70001));
    server_->write_plaintext(std::string_view(down).substr(at, 70001));
  }
  pump(*client_, *server_, 65536);
  std::string got_up = take_all_plaintext(*server_);
  std::string got_down = take_all_plaintext(*client_);
  ASSERT_EQ(got_up.size(), up.size());
  ASSERT_EQ(got_down.size(), down.size());
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down == down);
}

TEST_F(TlsEndpointTest, PlaintextIsReadInPlaceUntilDiscarded) {
  connect("localhost", "localhost");
  pump(*client_, *server_);
  client_->write_plaintext("a1 NOOP\r\n");
  pump(*client_, *server_);
  ASSERT_TRUE(server_->has_plaintext());
  EXPECT_EQ(server_->plaintext(), "a1 NOOP\r\n");
  // Another endpoint on this thread decrypting meanwhile must not touch the bytes in view.
  server_->write_plaintext("a1 OK NOOP completed\r\n");
  pump(*client_, *server_);
  EXPECT_EQ(client_->plaintext(), "a1 OK NOOP completed\r\n");
  EXPECT_EQ(server_->plaintext(), "a1 NOOP\r\n");
  server_->discard_plaintext();
  EXPECT_FALSE(server_->has_plaintext());
  EXPECT_TRUE(server_->plaintext().empty());
  EXPECT_EQ(take_all_plaintext(*client_), "a1 OK NOOP completed\r\n");
  EXPECT_FALSE(client_->has_plaintext());
}

TEST_F(TlsEndpointTest, PlaintextReadInPlaceFeedByFeedIsByteExact) {
  connect("localhost", "localhost");
  pump(*client_, *server_);
  ASSERT_TRUE(server_->handshake_complete()) << server_->error();
  const std::string sent = testing::random_bytes(3 << 20, 3);
  for (size_t at = 0; at < sent.size(); at += 50000) {
    client_->write_plaintext(std::string_view(sent).substr(at, 50000));
  }
  std::string wire;
  client_->take_encrypted(wire);
  // As a leg does it: feed one socket read (pieces that cut records anywhere), use the plaintext
  // in place, discard it, next read. Unconsumed bytes stay in front of the next feed's.
  std::string got;
  size_t feeds = 0;
  for (size_t at = 0; at < wire.size(); at += 65536 - 37) {
    server_->feed_encrypted(std::string_view(wire).substr(at, 65536 - 37));
    if (++feeds % 3 == 0) continue;  // sometimes leave it for the next feed
    got.append(server_->plaintext());
    server_->discard_plaintext();
  }
  got.append(server_->plaintext());
  server_->discard_plaintext();
  ASSERT_FALSE(server_->failed()) << server_->error();
  ASSERT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent);
}

TEST_F(TlsEndpointTest, HandshakeSurvivesByteByByteDelivery) {
  connect("localhost", "localhost");
  client_->write_plaintext("a1 NOOP\r\n");
  pump(*client_, *server_, 1);
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  ASSERT_TRUE(server_->handshake_complete()) << server_->error();
  EXPECT_EQ(take_all_plaintext(*server_), "a1 NOOP\r\n");
}

TEST_F(TlsEndpointTest, VerifiesAnIpLiteralWithoutSendingItAsSni) {
  connect("127.0.0.1", "127.0.0.1");
  pump(*client_, *server_);
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  TlsInfo upstream = client_->info();
  EXPECT_EQ(upstream.verification, "verified");
  EXPECT_EQ(upstream.sni, "") << "RFC 6066 forbids IP literals in SNI";
  EXPECT_EQ(server_->info().sni, "");
  ASSERT_TRUE(upstream.peer_certificate);
  EXPECT_THAT(upstream.peer_certificate->names, ::testing::ElementsAre("127.0.0.1"));
}

TEST_F(TlsEndpointTest, VerifiesIpv6LiteralInBrackets) {
  connect("[::1]", "[::1]");
  pump(*client_, *server_);
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  EXPECT_THAT(client_->info().peer_certificate->names, ::testing::ElementsAre("::1"));
}

TEST_F(TlsEndpointTest, MintedLeafFollowsTheRequestedName) {
  // mailtap's own client-facing side mints for whatever name is asked, so it always verifies.
  connect("localhost", "mail.example.org");
  pump(*client_, *server_);
  EXPECT_TRUE(client_->handshake_complete()) << client_->error();
}

TEST_F(TlsEndpointTest, WrongHostNameFailsWithAnExplanation) {
  // A real server has one certificate; asking it for another name must fail verification.
  connect_to_fixed_server("localhost", "mail.example.org");
  ASSERT_TRUE(client_->failed());
  EXPECT_FALSE(client_->handshake_complete());
  EXPECT_EQ(client_->error(),
            "upstream certificate verify failed: hostname mismatch (the certificate is for "
            "localhost, not mail.example.org; connect by a name the certificate lists, or "
            "--insecure)");
}

TEST_F(TlsEndpointTest, WrongIpAddressFails) {
  connect_to_fixed_server("127.0.0.1", "127.0.0.2");
  ASSERT_TRUE(client_->failed());
  EXPECT_THAT(client_->error(), HasSubstr("IP address mismatch"));
  EXPECT_THAT(client_->error(), HasSubstr("the certificate is for 127.0.0.1, not 127.0.0.2"));
}

TEST_F(TlsEndpointTest, FixedServerWithTheRightNameVerifies) {
  connect_to_fixed_server("localhost", "localhost");
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  EXPECT_EQ(client_->info().verification, "verified");
}

TEST_F(TlsEndpointTest, UntrustedCaFailsOnBothLegsWithWhatToDo) {
  connect("localhost", "localhost", true, other_ca_);
  pump(*client_, *server_);
  ASSERT_TRUE(client_->failed());
  EXPECT_EQ(client_->error(),
            "upstream certificate verify failed: self-signed certificate in certificate chain "
            "(trust it with --upstream-ca FILE, or --insecure)");
  // The client's alert reaches the server role, which explains it from its side.
  ASSERT_TRUE(server_->failed());
  EXPECT_THAT(server_->error(), HasSubstr("TLS handshake with the client failed"));
  EXPECT_THAT(server_->error(), HasSubstr("unknown ca"));
  EXPECT_THAT(server_->error(), HasSubstr("mailtap ca export"));
}

TEST_F(TlsEndpointTest, InsecureModeCompletesAndStillReportsTheCertificate) {
  connect("localhost", "mail.example.org", false, other_ca_);
  pump(*client_, *server_);
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  TlsInfo upstream = client_->info();
  EXPECT_EQ(upstream.verification, "skipped (--insecure)");
  ASSERT_TRUE(upstream.peer_certificate.has_value());
  EXPECT_EQ(upstream.peer_certificate->common_name, "mail.example.org")
      << "the SNI the client sent is reflected in the minted leaf";
}

TEST_F(TlsEndpointTest, SniIsReflectedInTheMintedLeaf) {
  // The server only knows the upstream as "localhost"; the client asks for another name.
  connect("localhost", "imap.alias.test");
  pump(*client_, *server_);
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  EXPECT_EQ(server_->info().sni, "imap.alias.test");
  ASSERT_TRUE(client_->info().peer_certificate);
  EXPECT_EQ(client_->info().peer_certificate->names.front(), "imap.alias.test");
}

TEST_F(TlsEndpointTest, GarbageClientHelloFailsCleanly) {
  connect("localhost", "localhost");
  server_->feed_encrypted(std::string("\x16\x03\x01\x00\x20", 5) + std::string(32, '\xee'));
  ASSERT_TRUE(server_->failed());
  EXPECT_FALSE(server_->handshake_complete());
  EXPECT_THAT(server_->error(), HasSubstr("TLS handshake with the client failed: "));
  EXPECT_GT(server_->error().size(), std::string("TLS handshake with the client failed: ").size());
  // An alert goes back to the peer; further input is ignored without crashing.
  EXPECT_TRUE(server_->has_encrypted());
  server_->feed_encrypted("more junk");
  EXPECT_TRUE(server_->failed());
}

TEST_F(TlsEndpointTest, PlaintextToTheTlsPortIsExplained) {
  connect("localhost", "localhost");
  server_->feed_encrypted("EHLO client.example\r\n");
  ASSERT_TRUE(server_->failed());
  EXPECT_THAT(server_->error(), HasSubstr("plain text"));
}

TEST_F(TlsEndpointTest, UpstreamAnsweringInPlaintextIsExplained) {
  connect("localhost", "localhost");
  std::string hello;
  client_->take_encrypted(hello);
  ASSERT_FALSE(hello.empty());
  client_->feed_encrypted("220 mail.example.org ESMTP ready\r\n");
  ASSERT_TRUE(client_->failed());
  EXPECT_THAT(client_->error(), HasSubstr("TLS handshake with the upstream failed"));
  EXPECT_THAT(client_->error(), HasSubstr("implicit TLS"));
}

// info() is read from the connection when asked (an idle session keeps no copy): nothing before
// the handshake, the same answer every time after it, also once both sides have closed.
TEST_F(TlsEndpointTest, InfoIsEmptyBeforeTheHandshakeAndStableAfterIt) {
  connect("localhost", "localhost");
  EXPECT_TRUE(client_->info().version.empty());
  EXPECT_FALSE(client_->info().peer_certificate.has_value());
  EXPECT_TRUE(server_->info().version.empty());
  pump(*client_, *server_);
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  TlsInfo first = client_->info();
  ASSERT_TRUE(first.peer_certificate.has_value());
  client_->write_plaintext("a1 LOGOUT\r\n");
  client_->close_notify();
  server_->close_notify();
  pump(*client_, *server_);
  for (const TlsInfo& later : {client_->info(), client_->info()}) {
    EXPECT_EQ(to_json(later), to_json(first));
  }
  EXPECT_EQ(server_->info().sni, "localhost");
  EXPECT_EQ(server_->info().cipher, first.cipher);
}

TEST_F(TlsEndpointTest, CloseNotifyIsDetectedAfterTheLastData) {
  connect("localhost", "localhost");
  pump(*client_, *server_);
  client_->write_plaintext("QUIT\r\n");
  client_->close_notify();
  EXPECT_FALSE(server_->peer_closed());
  pump(*client_, *server_);
  EXPECT_EQ(take_all_plaintext(*server_), "QUIT\r\n");
  EXPECT_TRUE(server_->peer_closed());
  EXPECT_FALSE(server_->failed()) << server_->error();
  EXPECT_FALSE(client_->peer_closed());

  // TLS 1.3 half-close: the other direction still works until the server closes too.
  server_->write_plaintext("221 bye\r\n");
  server_->close_notify();
  pump(*client_, *server_);
  EXPECT_EQ(take_all_plaintext(*client_), "221 bye\r\n");
  EXPECT_TRUE(client_->peer_closed());
}

TEST_F(TlsEndpointTest, StartsMidStreamAfterPlaintextLikeStarttls) {
  // The plaintext phase of a STARTTLS conversation, then TLS on the same byte streams.
  std::string client_to_server = "a1 STARTTLS\r\n";
  std::string server_to_client = "a1 OK Begin TLS negotiation now\r\n";

  contexts_ = std::make_unique<ContextPair>(*ca_);
  LeafSpec spec;
  spec.upstream_host = "localhost";
  ClientOptions options;
  options.server_name = "localhost";
  client_ = TlsEndpoint::make_client(contexts_->client.get(), options);
  client_->start();
  // The ClientHello follows the command on the same stream, as a pipelining client would send it.
  client_->take_encrypted(client_to_server);

  // The server side parses the command line, then hands everything after it to TLS.
  size_t line_end = client_to_server.find("\r\n") + 2;
  ASSERT_EQ(client_to_server.substr(0, line_end), "a1 STARTTLS\r\n");
  server_ = TlsEndpoint::make_server(contexts_->server.get(), spec);
  server_->feed_encrypted(std::string_view(client_to_server).substr(line_end));
  server_->take_encrypted(server_to_client);

  size_t reply_end = server_to_client.find("\r\n") + 2;
  ASSERT_EQ(server_to_client.substr(0, reply_end), "a1 OK Begin TLS negotiation now\r\n");
  client_->feed_encrypted(std::string_view(server_to_client).substr(reply_end));
  pump(*client_, *server_);
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  ASSERT_TRUE(server_->handshake_complete()) << server_->error();
  client_->write_plaintext("a2 CAPABILITY\r\n");
  pump(*client_, *server_);
  EXPECT_EQ(take_all_plaintext(*server_), "a2 CAPABILITY\r\n");
}

TEST_F(TlsEndpointTest, LegacyServerNeedsAllowLegacy) {
  for (bool allow_legacy : {false, true}) {
    SCOPED_TRACE(allow_legacy ? "allow_legacy" : "default");
    contexts_ = std::make_unique<ContextPair>(*ca_, *ca_, allow_legacy);
    // Make the server side an old TLS 1.1-only server.
    SSL_CTX* old_server = contexts_->server.get();
    SSL_CTX_set_min_proto_version(old_server, TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version(old_server, TLS1_1_VERSION);
    SSL_CTX_set_security_level(old_server, 0);
    ASSERT_EQ(SSL_CTX_set_cipher_list(old_server, "DEFAULT:@SECLEVEL=0"), 1);
    LeafSpec spec;
    spec.upstream_host = "localhost";
    server_ = TlsEndpoint::make_server(old_server, spec);
    ClientOptions options;
    options.server_name = "localhost";
    client_ = TlsEndpoint::make_client(contexts_->client.get(), options);
    client_->start();
    pump(*client_, *server_);
    if (allow_legacy) {
      ASSERT_TRUE(client_->handshake_complete()) << client_->error();
      EXPECT_EQ(client_->info().version, "TLSv1.1");
    } else {
      ASSERT_TRUE(client_->failed());
      EXPECT_THAT(client_->error(), HasSubstr("--allow-legacy-tls"));
    }
  }
}

// With --allow-legacy-tls given, a failed negotiation must not suggest it again.
TEST_F(TlsEndpointTest, NoSharedCipherWithAllowLegacyDoesNotSuggestIt) {
  contexts_ = std::make_unique<ContextPair>(*ca_, *ca_, /*allow_legacy=*/true);
  SSL_CTX* odd_server = contexts_->server.get();  // anonymous DH only: no client accepts it
  SSL_CTX_set_max_proto_version(odd_server, TLS1_2_VERSION);
  SSL_CTX_set_security_level(odd_server, 0);
  ASSERT_EQ(SSL_CTX_set_cipher_list(odd_server, "ADH-AES128-SHA:@SECLEVEL=0"), 1);
  LeafSpec spec;
  spec.upstream_host = "localhost";
  server_ = TlsEndpoint::make_server(odd_server, spec);
  ClientOptions options;
  options.server_name = "localhost";
  client_ = TlsEndpoint::make_client(contexts_->client.get(), options);
  client_->start();
  pump(*client_, *server_);
  ASSERT_TRUE(client_->failed());
  EXPECT_THAT(client_->error(), HasSubstr("even with --allow-legacy-tls"));
  EXPECT_THAT(client_->error(), Not(HasSubstr("accepts them")));
}

TEST_F(TlsEndpointTest, Tls12ServerWorksEndToEnd) {
  contexts_ = std::make_unique<ContextPair>(*ca_);
  SSL_CTX_set_max_proto_version(contexts_->server.get(), TLS1_2_VERSION);
  LeafSpec spec;
  spec.upstream_host = "localhost";
  server_ = TlsEndpoint::make_server(contexts_->server.get(), spec);
  ClientOptions options;
  options.server_name = "localhost";
  client_ = TlsEndpoint::make_client(contexts_->client.get(), options);
  client_->start();
  client_->write_plaintext("EHLO tls12\r\n");
  pump(*client_, *server_);
  ASSERT_TRUE(client_->handshake_complete()) << client_->error();
  EXPECT_EQ(client_->info().version, "TLSv1.2");
  EXPECT_EQ(client_->info().verification, "verified");
  EXPECT_EQ(server_->info().sni, "localhost");
  EXPECT_EQ(take_all_plaintext(*server_), "EHLO tls12\r\n");
  const std::string big = testing::random_bytes(200000, 3);
  server_->write_plaintext(big);
  server_->close_notify();
  pump(*client_, *server_, 4096);
  EXPECT_TRUE(take_all_plaintext(*client_) == big);
  EXPECT_TRUE(client_->peer_closed());
}

TEST_F(TlsEndpointTest, CorruptedRecordAfterTheHandshakeFails) {
  connect("localhost", "localhost");
  pump(*client_, *server_);
  ASSERT_TRUE(server_->handshake_complete());
  client_->write_plaintext("a1 LOGIN user secret\r\n");
  std::string record;
  client_->take_encrypted(record);
  ASSERT_GT(record.size(), 10u);
  record[record.size() - 3] ^= 0x01;  // flip a bit in the authentication tag
  server_->feed_encrypted(record);
  ASSERT_TRUE(server_->failed());
  EXPECT_THAT(server_->error(), HasSubstr("TLS error on the connection with the client"));
  EXPECT_THAT(server_->error(), HasSubstr("bad record mac"));
  EXPECT_FALSE(server_->has_plaintext());
}

TEST_F(TlsEndpointTest, WritesAfterOurCloseNotifyAreDropped) {
  connect("localhost", "localhost");
  pump(*client_, *server_);
  client_->close_notify();
  client_->write_plaintext("too late\r\n");
  pump(*client_, *server_);
  EXPECT_TRUE(server_->peer_closed());
  EXPECT_FALSE(server_->has_plaintext());
  EXPECT_FALSE(client_->failed());
}

// One full connection from a fresh client endpoint with `options` to a fresh server endpoint.
TlsInfo connect_once(ContextPair& contexts, const ClientOptions& options, std::string* error,
                     bool clean_close = true) {
  LeafSpec spec;
  spec.upstream_host = "localhost";
  auto server = TlsEndpoint::make_server(contexts.server.get(), spec);
  auto client = TlsEndpoint::make_client(contexts.client.get(), options);
  client->start();
  pump(*client, *server);
  client->write_plaintext("a1 NOOP\r\n");
  server->write_plaintext("* OK ready\r\n");
  pump(*client, *server);  // TLS 1.3 tickets arrive with the server's first data
  if (error) *error = client->error();
  EXPECT_EQ(take_all_plaintext(*server), "a1 NOOP\r\n");
  EXPECT_EQ(take_all_plaintext(*client), "* OK ready\r\n");
  if (clean_close) {
    client->close_notify();
    pump(*client, *server);
  }
  return client->handshake_complete() ? client->info() : TlsInfo{};
}

TEST_F(TlsEndpointTest, ResumesUpstreamSessionsWithTheSameKeyOnly) {
  ContextPair contexts(*ca_);
  ClientOptions options;
  options.server_name = "localhost";
  options.resumption_key = "localhost:993";
  std::string error;

  TlsInfo first = connect_once(contexts, options, &error);
  ASSERT_EQ(first.verification, "verified") << error;
  EXPECT_FALSE(first.session_reused);
  EXPECT_EQ(cached_client_sessions(contexts.client.get()), 1u);

  TlsInfo second = connect_once(contexts, options, &error);
  ASSERT_EQ(second.verification, "verified") << error;
  EXPECT_TRUE(second.session_reused);
  ASSERT_TRUE(second.peer_certificate) << "a resumed session still reports the certificate";
  EXPECT_EQ(second.peer_certificate->sha256, first.peer_certificate->sha256);

  // An --insecure connection must never hand its session to a verifying one, nor use one.
  ClientOptions insecure = options;
  insecure.verify = false;
  EXPECT_FALSE(connect_once(contexts, insecure, &error).session_reused);
  EXPECT_TRUE(connect_once(contexts, options, &error).session_reused);

  ClientOptions other_port = options;
  other_port.resumption_key = "localhost:995";
  EXPECT_FALSE(connect_once(contexts, other_port, &error).session_reused);

  ClientOptions no_key = options;
  no_key.resumption_key.clear();
  EXPECT_FALSE(connect_once(contexts, no_key, &error).session_reused);

  // A connection dropped without our close_notify spoils its session (OpenSSL's rule).
  EXPECT_TRUE(connect_once(contexts, options, &error, false).session_reused);
  EXPECT_FALSE(connect_once(contexts, options, &error).session_reused);
  EXPECT_TRUE(connect_once(contexts, options, &error).session_reused);
}

TEST_F(TlsEndpointTest, EndpointWithoutContextFailsInsteadOfCrashing) {
  auto endpoint = TlsEndpoint::make_client(nullptr, ClientOptions{});
  ASSERT_TRUE(endpoint->failed());
  EXPECT_THAT(endpoint->error(), HasSubstr("no TLS context"));
  endpoint->start();
  endpoint->feed_encrypted("x");
  endpoint->write_plaintext("y");
  std::string out;
  endpoint->take_encrypted(out);
  EXPECT_TRUE(out.empty());
  EXPECT_THAT(endpoint->error(), Not(HasSubstr("cannot buffer")));
}

}  // namespace
}  // namespace mailtap::tls
