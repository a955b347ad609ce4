// Reads one complete server response at a time, as a ProtocolModel's Await describes it: SMTP
// multi-line replies, IMAP untagged data with literals up to the tagged completion, POP3 status
// lines and dot-terminated lists and bodies. Lines and literals are bounded; every wait has a
// deadline; a server that closes or stops mid-response gives an incomplete Response, never a hang.
#pragma once

#include <string>

#include "mailtap/run/client_connection.h"
#include "mailtap/run/protocol_model.h"

namespace mailtap::run {

struct ReaderLimits {
  size_t max_line = size_t{1} << 20;       // one line, CRLF included
  size_t max_literal = size_t{256} << 20;  // one IMAP literal
};

class ResponseReader {
 public:
  explicit ResponseReader(ClientConnection& connection, ReaderLimits limits = {})
      : conn_(connection), limits_(limits) {}

  Response read(const Await& await, Deadline deadline);
  // Bytes received but not part of any response read so far (after a STARTTLS reply these must
  // be dropped: they were not protected by TLS).
  std::string take_buffered();
  bool has_buffered() const { return !buf_.empty(); }
  // Waits for the server to close the connection; anything it sends meanwhile goes to `data`.
  IoStatus wait_for_close(Deadline deadline, std::string& data, std::string& error);

 private:
  IoStatus fill(Deadline deadline, std::string& error);
  IoStatus read_line(std::string& line, Deadline deadline, std::string& error);
  IoStatus read_exact(size_t n, std::string& out, Deadline deadline, std::string& error);
  // An IMAP line with the literals it announces; frames appended. `first` is its first line.
  IoStatus read_imap_line(Response& r, std::string& first, Deadline deadline, std::string& error);

  ClientConnection& conn_;
  ReaderLimits limits_;
  std::string buf_;
};

}  // namespace mailtap::run
