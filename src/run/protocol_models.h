// Internal: the three protocol models and the small text helpers they share.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/run/protocol_model.h"

namespace mailtap::run::detail {

std::unique_ptr<ProtocolModel> make_smtp_model();
std::unique_ptr<ProtocolModel> make_imap_model();
std::unique_ptr<ProtocolModel> make_pop3_model();

// The next line of `bytes` from `pos` (with its LF), or the rest when there is no LF.
std::string_view next_segment(std::string_view bytes, size_t& pos);
std::string_view without_eol(std::string_view line);
// The index-th white-space separated word (empty when there is none).
std::string word(std::string_view line, size_t index);
std::string upper(std::string s);
void append_frame(std::vector<session::Frame>& frames, transcript::FrameKind kind,
                  std::string_view bytes);

}  // namespace mailtap::run::detail
