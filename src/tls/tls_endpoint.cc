// TLS over an in-memory transport (buffer_bio.h). One non-reentrant cycle (handshake, flush held
// plaintext, read until OpenSSL wants more input) runs after every input, as in Node's
// TLSWrap::Cycle().
#include "mailtap/tls/tls_endpoint.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_set>

#include "mailtap/tls/buffer_bio.h"
#include "mailtap/tls/openssl_handles.h"
#include "mailtap/tls/session_cache.h"
#include "mailtap/tls/tls_contexts.h"
#include "mailtap/tls/x509_inspect.h"

namespace mailtap::tls {
namespace {

// One full TLS record of plaintext per SSL_read.
constexpr size_t kReadPiece = 16 * 1024;

bool is_any_of(const OpenSslErrors& errors, std::initializer_list<int> reasons) {
  return std::any_of(reasons.begin(), reasons.end(),
                     [&](int reason) { return errors.has_reason(ERR_LIB_SSL, reason); });
}

std::string join_names(const CertificateInfo& cert) {
  std::vector<std::string> names = cert.names;
  if (names.empty() && !cert.common_name.empty()) names.push_back(cert.common_name);
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "no names" : out;
}

// SSL_get_error() reads OpenSSL's per-thread error queue, so an error some other code left there
// would turn a harmless "want more input" into a failure: every call starts from an empty queue.
// Emptying it costs ~840 instructions even when it is empty (8% of the event loop's work per IMAP
// round trip); looking costs a fraction of that, and it is almost always empty.
void clear_stale_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// Decrypted bytes waiting for the application. SSL_read writes straight into it (no zero-fill and
// no second copy, as appending from a scratch piece cost: one copy of every relayed byte), and the
// leg reads them in place (TlsEndpoint::plaintext) before handing the memory back
// (discard_plaintext). The memory is one per-thread spare lent to whichever endpoint decrypts: a
// relay thread reuses the same buffer for every read, and an idle session holds none.
class PlaintextBuffer {
 public:
  PlaintextBuffer() = default;
  PlaintextBuffer(const PlaintextBuffer&) = delete;
  PlaintextBuffer& operator=(const PlaintextBuffer&) = delete;
  ~PlaintextBuffer() { release(); }

  std::string_view view() const { return {data_.get(), size_}; }
  bool empty() const { return size_ == 0; }

  // Where the next `room` bytes go; what is held stays in front of them.
  char* tail(size_t room) {
    if (capacity_ - size_ >= room) return data_.get() + size_;
    Spare& spare = thread_spare();
    if (!data_ && spare.data && spare.capacity >= room) {
      data_ = std::move(spare.data);
      capacity_ = spare.capacity;
      spare.capacity = 0;
      return data_.get();
    }
    size_t capacity = std::max({size_ + room, capacity_ * 2, kFirstCapacity});
    std::unique_ptr<char[]> bigger(new char[capacity]);  // uninitialised on purpose
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
    return data_.get() + size_;
  }
  void commit(size_t n) { size_ += n; }

  // Forgets the bytes and gives the memory back to the thread (the larger buffer is kept).
  void release() {
    size_ = 0;
    if (!data_) return;
    Spare& spare = thread_spare();
    if (capacity_ > spare.capacity) {
      spare.data = std::move(data_);
      spare.capacity = capacity_;
    }
    data_.reset();
    capacity_ = 0;
  }

 private:
  // Enough for a 64 KiB read of records and the partial record before it, in one piece.
  static constexpr size_t kFirstCapacity = 96 * 1024;
  struct Spare {
    std::unique_ptr<char[]> data;
    size_t capacity = 0;
  };
  static Spare& thread_spare() {
    thread_local Spare spare;
    return spare;
  }

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// Resumption keys are few (one per upstream name, port and verify setting) and every connection
// to the same upstream has the same one: they are kept once for the process, and each endpoint
// points at its key instead of holding a copy. Never erased (an SSL may still point at one);
// bounded, beyond which an endpoint keeps its own copy.
const std::string* shared_session_key(const std::string& key) {
  constexpr size_t kMaxSharedKeys = 4096;
  static std::mutex mutex;
  static std::unordered_set<std::string> keys;  // nodes do not move: pointers stay valid
  std::lock_guard lock(mutex);
  auto it = keys.find(key);
  if (it != keys.end()) return &*it;
  if (keys.size() >= kMaxSharedKeys) return nullptr;
  return &*keys.insert(key).first;
}

const std::string& no_error() {
  static const std::string empty;
  return empty;
}

}  // namespace

struct TlsEndpoint::Impl final : TlsEndpoint {
  SslPtr ssl;
  BufferBioState wire;  // ciphertext in (borrowed from the caller during a feed) and out
  std::string backlog;  // ciphertext OpenSSL has not read yet when a feed returned
  // Written before the handshake completed (allocated then; null once sent, as it is in an
  // established session).
  std::unique_ptr<std::string> held_plaintext;
  PlaintextBuffer plaintext_in;  // decrypted, waiting for the application
  // Client role: the name verified and sent as SNI, and the resumption key (which cached
  // sessions this connection may use and where its own go): shared, or own_session_key.
  std::string server_name;
  const std::string* session_key = nullptr;
  std::unique_ptr<std::string> own_session_key;
  // Server role, until the handshake completes: read by the context's certificate callback.
  // Freed afterwards (with the upstream certificate it mirrors): an idle session keeps none.
  std::unique_ptr<detail::ServerLeafState> server_state;
  // What went wrong, allocated when something does (an established session holds none).
  struct Failure {
    std::string error;
    // The upstream certificate that failed verification (OpenSSL keeps no peer certificate
    // then).
    std::unique_ptr<CertificateInfo> rejected_certificate;
  };
  std::unique_ptr<Failure> failure;

  Role role = Role::client;
  bool verify = true;  // client role: the upstream's certificate is verified (no --insecure)
  bool started = false;
  bool handshake_done = false;
  bool failed = false;
  bool peer_closed = false;
  bool close_sent = false;
  bool in_cycle = false;

  // What was written before the handshake completed goes out, encrypted, in order.
  void send_held_plaintext() {
    if (!held_plaintext) return;
    encrypt(*held_plaintext);
    held_plaintext.reset();
  }

  Failure& failure_state() {
    if (!failure) failure = std::make_unique<Failure>();
    return *failure;
  }

  static int on_verify(int preverify_ok, X509_STORE_CTX* store) noexcept {
    if (preverify_ok) return 1;
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    BufferBioState* wire = buffer_bio_state(ssl);
    auto* self = wire ? static_cast<Impl*>(wire->owner) : nullptr;
    if (self && !(self->failure && self->failure->rejected_certificate)) {
      try {
        self->failure_state().rejected_certificate = std::make_unique<CertificateInfo>(
            describe_certificate(X509_STORE_CTX_get0_cert(store)));
      } catch (...) {
        // Only used to word the error message; the verification fails either way.
      }
    }
    return 0;
  }

  // The SSL goes first: its BIO and ex_data point at the members below.
  ~Impl() { ssl.reset(); }

  const char* peer_name() const { return role == Role::client ? "upstream" : "client"; }

  bool attach(SSL_CTX* ctx) {
    ERR_clear_error();
    if (!ctx) return fail_with("no TLS context for the " + std::string(peer_name()) + " leg");
    ssl.reset(SSL_new(ctx));
    wire.owner = this;
    BIO* bio = ssl ? new_buffer_bio(&wire) : nullptr;
    if (!bio) {
      ssl.reset();
      return fail_with(with_openssl_errors("cannot create a TLS session"));
    }
    SSL_set_bio(ssl.get(), bio, bio);  // one BIO both ways: SSL takes its single reference
    SSL_set_mode(ssl.get(), SSL_MODE_RELEASE_BUFFERS);
    return true;
  }

  bool fail_with(std::string message) {
    failed = true;
    Failure& f = failure_state();
    if (f.error.empty()) f.error = std::move(message);
    return false;
  }

  void fail_handshake(int ssl_error) {
    OpenSslErrors errors = drain_openssl_errors();
    if (role == Role::client) {
      long result = SSL_get_verify_result(ssl.get());
      if (verify && result != X509_V_OK) {
        fail_with(upstream_verify_message(result));
        return;
      }
    } else if (server_state && !server_state->error.empty()) {
      fail_with("TLS handshake with the client failed: " + server_state->error);
      return;
    }
    std::string message = std::string("TLS handshake with the ") + peer_name() + " failed: ";
    message += errors.text.empty() ? describe_ssl_error(ssl_error) : errors.text;
    message += hint_for(errors);
    fail_with(std::move(message));
  }

  std::string upstream_verify_message(long verify) {
    std::string message = "upstream certificate verify failed: ";
    message += X509_verify_cert_error_string(verify);
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      message += " (";
      if (failure && failure->rejected_certificate) {
        message += "the certificate is for " + join_names(*failure->rejected_certificate) +
                   ", not " + server_name + "; ";
      }
      message += "connect by a name the certificate lists, or --insecure)";
    } else if (verify == X509_V_ERR_CERT_HAS_EXPIRED || verify == X509_V_ERR_CERT_NOT_YET_VALID) {
      message += " (check the server's certificate and this machine's clock, or --insecure)";
    } else {
      message += " (trust it with --upstream-ca FILE, or --insecure)";
    }
    return message;
  }

  std::string hint_for(const OpenSslErrors& errors) const {
    if (is_any_of(errors, {SSL_R_WRONG_VERSION_NUMBER, SSL_R_HTTP_REQUEST,
                           SSL_R_PACKET_LENGTH_TOO_LONG, SSL_R_RECORD_LENGTH_MISMATCH})) {
      return role == Role::server
                 ? " (the client did not send a TLS ClientHello: is it speaking plain text or "
                   "STARTTLS to an implicit-TLS port?)"
                 : " (the upstream did not answer with TLS: is this port plain text or STARTTLS "
                   "rather than implicit TLS?)";
    }
    if (is_any_of(errors, {SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION,
                           SSL_R_NO_PROTOCOLS_AVAILABLE, SSL_R_NO_SHARED_CIPHER,
                           SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE,
                           SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED})) {
      if (role == Role::server)
        return " (the client offers only TLS versions or ciphers below TLS 1.2)";
      // --allow-legacy-tls lowers the upstream context's floor below TLS 1.2: do not suggest it
      // when it is already given.
      bool legacy_allowed = SSL_get_min_proto_version(ssl.get()) < TLS1_2_VERSION;
      return legacy_allowed
                 ? " (the upstream offers no TLS version or cipher mailtap accepts, even with "
                   "--allow-legacy-tls)"
                 : " (the upstream may only speak TLS 1.0/1.1 or weak ciphers: --allow-legacy-tls "
                   "accepts them)";
    }
    if (role == Role::server &&
        is_any_of(errors, {SSL_R_TLSV1_ALERT_UNKNOWN_CA, SSL_R_SSLV3_ALERT_BAD_CERTIFICATE,
                           SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN})) {
      return " (the client does not trust mailtap's CA: install the output of `mailtap ca "
             "export` in the client)";
    }
    return {};
  }

  static std::string describe_ssl_error(int ssl_error) {
    switch (ssl_error) {
      case SSL_ERROR_ZERO_RETURN:
        return "peer closed the connection during the handshake";
      case SSL_ERROR_SYSCALL:
        return "unexpected end of the encrypted stream";
      default:
        return "OpenSSL error " + std::to_string(ssl_error);
    }
  }

  void on_handshake_complete() {
    handshake_done = true;
    if (role == Role::server) {
      // The leaf is installed; the certificate callback never runs again (no renegotiation).
      detail::set_server_leaf_state(ssl.get(), nullptr);
      server_state.reset();
    }
  }

  // Read from the SSL when asked (once per handshake, by the leg that reports it) rather than
  // kept: the upstream certificate's description would cost an idle session ~0.8 KiB.
  TlsInfo describe() const {
    TlsInfo info;
    info.version = SSL_get_version(ssl.get());
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl.get())) {
      info.cipher = SSL_CIPHER_get_name(cipher);
    }
    const unsigned char* alpn = nullptr;
    unsigned int alpn_length = 0;
    SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_length);
    if (alpn) info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
    info.session_reused = SSL_session_reused(ssl.get()) == 1;
    if (role == Role::client) {
      if (!is_ip_literal(server_name)) info.sni = server_name;
      if (const X509* peer = SSL_get0_peer_certificate(ssl.get())) {
        info.peer_certificate = describe_certificate(peer);
      }
      info.verification = verify ? "verified" : "skipped (--insecure)";
    } else {
      const char* sni = SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name);
      info.sni = sni ? sni : "";
      info.verification = "not applicable";
    }
    return info;
  }

  // Encrypts `bytes` now; the handshake must be complete.
  void encrypt(std::string_view bytes) {
    // Room for the records' headers, tags and padding, so the output grows once, not per record.
    constexpr size_t kRecordOverhead = 64;
    wire.output.reserve(wire.output.size() + bytes.size() +
                        (bytes.size() / kReadPiece + 1) * kRecordOverhead);
    while (!bytes.empty() && !failed) {
      size_t written = 0;
      if (SSL_write_ex(ssl.get(), bytes.data(), bytes.size(), &written) != 1) {
        fail_with(with_openssl_errors(std::string("cannot encrypt data for the ") + peer_name()));
        return;
      }
      bytes.remove_prefix(written);
    }
  }

  // Decrypts while there is input or buffered record data (h2o's decode loop), each record
  // straight into the plaintext buffer. Returns true when the last record read was application
  // data that used up the input: OpenSSL's RELEASE_BUFFERS mode has then freed its read buffer.
  bool read_plaintext() {
    bool drained_by_data = false;
    while (!failed && !peer_closed && (!wire.input.empty() || SSL_has_pending(ssl.get()) == 1)) {
      size_t got = 0;
      drained_by_data = false;
      int ok = SSL_read_ex(ssl.get(), plaintext_in.tail(kReadPiece), kReadPiece, &got);
      if (ok == 1) {
        plaintext_in.commit(got);
        drained_by_data = true;
        continue;
      }
      int ssl_error = SSL_get_error(ssl.get(), ok);
      if (ssl_error == SSL_ERROR_WANT_READ) break;
      if (ssl_error == SSL_ERROR_ZERO_RETURN) {
        peer_closed = true;
        break;
      }
      OpenSslErrors errors = drain_openssl_errors();
      fail_with(std::string("TLS error on the connection with the ") + peer_name() + ": " +
                (errors.text.empty() ? describe_ssl_error(ssl_error) : errors.text));
    }
    // A partial record gave nothing: the buffer goes back to the thread at once.
    if (plaintext_in.empty()) plaintext_in.release();
    return drained_by_data && !failed && !peer_closed;
  }

  void cycle() {
    if (failed || in_cycle) return;
    in_cycle = true;
    started = true;
    if (!handshake_done) {
      int result = SSL_do_handshake(ssl.get());
      if (result == 1) {
        on_handshake_complete();
      } else {
        int ssl_error = SSL_get_error(ssl.get(), result);
        if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) {
          fail_handshake(ssl_error);
        }
      }
    }
    if (handshake_done && !failed) {
      if (!close_sent) send_held_plaintext();
      // OpenSSL's RELEASE_BUFFERS mode frees the 16 KiB read buffer only after application data,
      // so a session idling right after its handshake (or a ticket) would keep it; free it
      // whenever no partial record is held (SSL_free_buffers refuses otherwise). After
      // application data there is nothing to free, and the call still walks OpenSSL's 32 record
      // slots (~670 instructions, 3% of an IMAP round trip on the event loop): skipped then.
      bool released_by_openssl = read_plaintext();
      if (!failed && !released_by_openssl) SSL_free_buffers(ssl.get());
    }
    in_cycle = false;
  }
};

TlsEndpoint::~TlsEndpoint() = default;
TlsEndpoint::Impl* TlsEndpoint::impl() {
  return static_cast<Impl*>(this);
}
const TlsEndpoint::Impl* TlsEndpoint::impl() const {
  return static_cast<const Impl*>(this);
}

std::unique_ptr<TlsEndpoint> TlsEndpoint::make_server(SSL_CTX* ctx, const LeafSpec& spec) {
  auto impl = std::make_unique<Impl>();
  impl->role = Role::server;
  impl->server_state = std::make_unique<detail::ServerLeafState>();
  impl->server_state->spec = spec;
  if (impl->attach(ctx)) {
    SSL_set_accept_state(impl->ssl.get());
    detail::set_server_leaf_state(impl->ssl.get(), impl->server_state.get());
  }
  return impl;
}

std::unique_ptr<TlsEndpoint> TlsEndpoint::make_client(SSL_CTX* ctx, const ClientOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->role = Role::client;
  impl->server_name = options.server_name;
  impl->verify = options.verify;
  if (impl->attach(ctx)) {
    SSL* ssl = impl->ssl.get();
    SSL_set_connect_state(ssl);
    const std::string& name = options.server_name;
    const bool ip = is_ip_literal(name);
    bool ok = true;
    // RFC 6066: SNI carries host names only, never IP literals.
    if (!name.empty() && !ip) ok = SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
    if (options.verify) {
      SSL_set_verify(ssl, SSL_VERIFY_PEER, &Impl::on_verify);
      if (ip) {
        ok = ok &&
             X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), strip_brackets(name).c_str()) == 1;
      } else if (!name.empty()) {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = ok && SSL_set1_host(ssl, name.c_str()) == 1;
      }
    } else {
      // --insecure: the handshake proceeds whatever the certificate says; info() still shows it.
      SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
    }
    if (!options.resumption_key.empty()) {
      // Never resume a session made with --insecure on a connection that verifies.
      std::string key =
          options.resumption_key + "|" + name + "|" + (options.verify ? "verified" : "insecure");
      impl->session_key = shared_session_key(key);
      if (!impl->session_key) {
        impl->own_session_key = std::make_unique<std::string>(std::move(key));
        impl->session_key = impl->own_session_key.get();
      }
      resume_client_session(ssl, *impl->session_key);
    }
    if (!ok) impl->fail_with(with_openssl_errors("cannot use '" + name + "' as the upstream name"));
  }
  return impl;
}

void TlsEndpoint::start() {
  if (impl()->failed || impl()->started) return;
  clear_stale_errors();
  impl()->cycle();
}

void TlsEndpoint::feed_encrypted(std::string_view bytes) {
  Impl& impl = *this->impl();
  if (impl.failed || impl.in_cycle) return;
  clear_stale_errors();
  // OpenSSL reads the caller's bytes in place; only what it leaves unread is copied.
  if (impl.backlog.empty()) {
    impl.wire.input = bytes;
  } else {
    impl.backlog.append(bytes);
    impl.wire.input = impl.backlog;
  }
  impl.cycle();
  if (impl.wire.input.empty() || impl.failed || impl.peer_closed) {
    // Consumed, or nothing will ever read it; its memory goes too (up to a record's worth an
    // idle session would otherwise keep after a transfer).
    if (!impl.backlog.empty()) std::string().swap(impl.backlog);
  } else {
    std::string rest(impl.wire.input);
    impl.backlog.swap(rest);
  }
  impl.wire.input = {};
}

void TlsEndpoint::write_plaintext(std::string_view bytes) {
  Impl& impl = *this->impl();
  // Ignored after a failure or after our close_notify: nothing can carry them any more.
  if (impl.failed || impl.close_sent || bytes.empty()) return;
  clear_stale_errors();
  if (!impl.handshake_done || impl.held_plaintext) {
    if (!impl.held_plaintext) impl.held_plaintext = std::make_unique<std::string>();
    impl.held_plaintext->append(bytes);
    return;
  }
  impl.encrypt(bytes);
}

void TlsEndpoint::close_notify() {
  Impl& impl = *this->impl();
  if (impl.failed || impl.close_sent || !impl.ssl) return;
  clear_stale_errors();
  impl.close_sent = true;
  // Before the handshake there is no session to close; the caller just closes the socket.
  if (!impl.handshake_done) return;
  impl.send_held_plaintext();
  if (SSL_shutdown(impl.ssl.get()) < 0) {
    // Not fatal for the data already delivered; record why the close was not clean.
    impl.fail_with(
        with_openssl_errors(std::string("cannot send close_notify to the ") + impl.peer_name()));
  }
}

void TlsEndpoint::take_encrypted(std::string& out) {
  std::string& pending = impl()->wire.output;
  if (pending.empty()) return;
  if (out.empty()) {
    out.swap(pending);  // hands over the buffer, no copy
  } else {
    out.append(pending);
  }
  std::string().swap(pending);  // an idle session keeps no buffer
}

void TlsEndpoint::take_plaintext(std::string& out) {
  out.append(impl()->plaintext_in.view());
  impl()->plaintext_in.release();
}

std::string_view TlsEndpoint::plaintext() const {
  return impl()->plaintext_in.view();
}

void TlsEndpoint::discard_plaintext() {
  impl()->plaintext_in.release();
}

bool TlsEndpoint::has_encrypted() const {
  return !impl()->wire.output.empty();
}
bool TlsEndpoint::has_plaintext() const {
  return !impl()->plaintext_in.empty();
}
bool TlsEndpoint::handshake_complete() const {
  return impl()->handshake_done;
}
bool TlsEndpoint::failed() const {
  return impl()->failed;
}
const std::string& TlsEndpoint::error() const {
  return impl()->failure ? impl()->failure->error : no_error();
}
bool TlsEndpoint::peer_closed() const {
  return impl()->peer_closed;
}
TlsInfo TlsEndpoint::info() const {
  return impl()->handshake_done ? impl()->describe() : TlsInfo{};
}

const std::string* client_session_key(const SSL* ssl) {
  BufferBioState* wire = buffer_bio_state(ssl);
  return wire ? static_cast<TlsEndpoint::Impl*>(wire->owner)->session_key : nullptr;
}

}  // namespace mailtap::tls
