// SMTP session decoder (RFC 5321 and extensions): every client command parsed and explained,
// every complete server reply paired with the command it answers (in order, so pipelined commands
// pair correctly) with its latency, EHLO capabilities, AUTH exchanges decoded through SaslExchange
// with secrets redacted (in the decoded fields and in the raw line), DATA/BDAT messages summed up
// (size, SHA-256, headers), and warnings a mail administrator wants (credentials before TLS,
// AUTH offered in cleartext, STARTTLS not offered, malformed replies, over-long lines).
// Never throws out of annotate(); memory stays bounded whatever the input.
#pragma once

#include <memory>

#include "mailtap/decode/session_decoder.h"

namespace mailtap::decode {

std::unique_ptr<SessionDecoder> make_smtp_decoder(const DecodeOptions& options);

}  // namespace mailtap::decode
