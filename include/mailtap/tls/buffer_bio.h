// The transport under a TlsEndpoint's SSL: one BIO that reads ciphertext straight from the
// caller's buffer and appends ciphertext to a string the caller can take by swap. It plays the
// role of the classic BIO_s_mem pair without its two extra copies and its per-session buffers.
#pragma once

#include <string>
#include <string_view>

typedef struct bio_st BIO;
typedef struct ssl_st SSL;

namespace mailtap::tls {

struct BufferBioState {
  std::string_view input;  // ciphertext not yet read by OpenSSL; empty means "retry later"
  std::string output;      // ciphertext OpenSSL wrote, waiting for the wire
  // Who owns the SSL above (the TlsEndpoint): OpenSSL callbacks that are given only the SSL find
  // it here, with no ex_data slot (an ex_data table costs every SSL two allocations).
  void* owner = nullptr;
};

// A new BIO over `state` (which must outlive it), or nullptr when OpenSSL is out of memory.
BIO* new_buffer_bio(BufferBioState* state);

// The state under `ssl`'s read BIO when it is a buffer BIO, else nullptr.
BufferBioState* buffer_bio_state(const SSL* ssl);

}  // namespace mailtap::tls
