// The transport under a TlsEndpoint's SSL: one BIO that reads ciphertext straight from the
// caller's buffer and appends ciphertext to a string the caller can take by swap. It plays the
// role of the classic BIO_s_mem pair without its two extra copies and its per-session buffers.
#pragma once

#include <string>
#include <string_view>

typedef struct bio_st BIO;

namespace mailtap::tls {

struct BufferBioState {
  std::string_view input;  // ciphertext not yet read by OpenSSL; empty means "retry later"
  std::string output;      // ciphertext OpenSSL wrote, waiting for the wire
};

// A new BIO over `state` (which must outlive it), or nullptr when OpenSSL is out of memory.
BIO* new_buffer_bio(BufferBioState* state);

}  // namespace mailtap::tls
