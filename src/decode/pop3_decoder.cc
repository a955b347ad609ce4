#include "mailtap/decode/pop3_decoder.h"

namespace mailtap::decode {
namespace {

class Pop3Decoder final : public SessionDecoder {
 public:
  explicit Pop3Decoder(const DecodeOptions& options) : options_(options) {}
  void annotate(const transcript::Event&, nlohmann::json&) override {}

 private:
  DecodeOptions options_;
};

}  // namespace

std::unique_ptr<SessionDecoder> make_pop3_decoder(const DecodeOptions& options) {
  return std::make_unique<Pop3Decoder>(options);
}

}  // namespace mailtap::decode
