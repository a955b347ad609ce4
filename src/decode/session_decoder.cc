// make_session_decoder: the decoder for a session's protocol. The IMAP and POP3 decoders are
// linked in when their headers exist; otherwise those protocols get a pass-through decoder, which
// keeps the build green while they are being written.
#include "mailtap/decode/session_decoder.h"

#include "mailtap/decode/smtp_decoder.h"

#if __has_include("mailtap/decode/imap_decoder.h")
#include "mailtap/decode/imap_decoder.h"
#define MAILTAP_HAVE_IMAP_DECODER 1
#endif
#if __has_include("mailtap/decode/pop3_decoder.h")
#include "mailtap/decode/pop3_decoder.h"
#define MAILTAP_HAVE_POP3_DECODER 1
#endif

namespace mailtap::decode {
namespace {

class PassThroughDecoder final : public SessionDecoder {
 public:
  void annotate(const transcript::Event&, nlohmann::json&) override {}
};

}  // namespace

std::unique_ptr<SessionDecoder> make_session_decoder(Protocol protocol,
                                                     const DecodeOptions& options) {
  switch (protocol) {
    case Protocol::smtp:
      return make_smtp_decoder(options);
    case Protocol::imap:
#ifdef MAILTAP_HAVE_IMAP_DECODER
      return make_imap_decoder(options);
#else
      break;
#endif
    case Protocol::pop3:
#ifdef MAILTAP_HAVE_POP3_DECODER
      return make_pop3_decoder(options);
#else
      break;
#endif
  }
  return std::make_unique<PassThroughDecoder>();
}

}  // namespace mailtap::decode
