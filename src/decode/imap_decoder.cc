#include "mailtap/decode/imap_decoder.h"

namespace mailtap::decode {
namespace {

class ImapDecoder final : public SessionDecoder {
 public:
  explicit ImapDecoder(const DecodeOptions& options) : options_(options) {}
  void annotate(const transcript::Event&, nlohmann::json&) override {}

 private:
  DecodeOptions options_;
};

}  // namespace

std::unique_ptr<SessionDecoder> make_imap_decoder(const DecodeOptions& options) {
  return std::make_unique<ImapDecoder>(options);
}

}  // namespace mailtap::decode
