// POP3 session decoder: parses commands and replies of one session into explained transcript
// events (multi-line replies decided by the command, message bodies summarised).
#pragma once

#include <memory>

#include "mailtap/decode/session_decoder.h"

namespace mailtap::decode {

std::unique_ptr<SessionDecoder> make_pop3_decoder(const DecodeOptions& options);

}  // namespace mailtap::decode
