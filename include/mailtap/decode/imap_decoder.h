// IMAP4rev1/rev2 session decoder: parses commands and responses of one session into explained
// transcript events (tags paired with completions, untagged data attributed, literals summarised).
#pragma once

#include <memory>

#include "mailtap/decode/session_decoder.h"

namespace mailtap::decode {

std::unique_ptr<SessionDecoder> make_imap_decoder(const DecodeOptions& options);

}  // namespace mailtap::decode
