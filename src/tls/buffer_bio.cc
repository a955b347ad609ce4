#include "mailtap/tls/buffer_bio.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

namespace mailtap::tls {
namespace {

BufferBioState* state_of(BIO* bio) {
  return static_cast<BufferBioState*>(BIO_get_data(bio));
}

int buffer_read(BIO* bio, char* out, size_t length, size_t* read_bytes) {
  BIO_clear_retry_flags(bio);
  BufferBioState* state = state_of(bio);
  if (state->input.empty()) {
    BIO_set_retry_read(bio);  // not end of stream: more ciphertext may come with the next feed
    *read_bytes = 0;
    return 0;
  }
  size_t n = std::min(length, state->input.size());
  std::memcpy(out, state->input.data(), n);
  state->input.remove_prefix(n);
  *read_bytes = n;
  return 1;
}

int buffer_write(BIO* bio, const char* data, size_t length, size_t* written) {
  BIO_clear_retry_flags(bio);
  state_of(bio)->output.append(data, length);
  *written = length;
  return 1;
}

long buffer_ctrl(BIO* bio, int command, long, void*) {
  switch (command) {
    case BIO_CTRL_PENDING:
      return static_cast<long>(state_of(bio)->input.size());
    case BIO_CTRL_WPENDING:
      return static_cast<long>(state_of(bio)->output.size());
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;  // EOF, KTLS queries, push/pop...: not supported, not end of stream
  }
}

int buffer_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int buffer_method_type() {
  static const int type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK;
  return type;
}

const BIO_METHOD* buffer_method() {
  // Created once and kept for the life of the process, as OpenSSL's own methods are.
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(buffer_method_type(), "mailtap buffer");
    if (m) {
      BIO_meth_set_read_ex(m, buffer_read);
      BIO_meth_set_write_ex(m, buffer_write);
      BIO_meth_set_ctrl(m, buffer_ctrl);
      BIO_meth_set_create(m, buffer_create);
    }
    return m;
  }();
  return method;
}

}  // namespace

BIO* new_buffer_bio(BufferBioState* state) {
  const BIO_METHOD* method = buffer_method();
  if (!method) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio) BIO_set_data(bio, state);
  return bio;
}

BufferBioState* buffer_bio_state(const SSL* ssl) {
  BIO* bio = ssl ? SSL_get_rbio(ssl) : nullptr;
  if (!bio || BIO_method_type(bio) != buffer_method_type()) return nullptr;
  return state_of(bio);
}

}  // namespace mailtap::tls
