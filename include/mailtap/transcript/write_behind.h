// Keeps a transcript file being written from filling the page cache (Linux; elsewhere a no-op).
//
// A bulk transfer is recorded as fast as it is relayed, and every byte of its transcript is new
// page cache. Left alone, gigabytes of write-once transcripts push the mail server's own cache out
// of memory, and on a virtual machine whose free memory goes back to the host (a balloon, as
// here), every new page costs a fault in the host: writing a transcript then cost 2.5 to 3 ms of
// CPU per MB instead of 0.3 (docs/performance.md, "The page cache"). So, like PostgreSQL's
// *_flush_after, writeback of the file is started every chunk, and the range written a lag ago,
// by then normally on disk, is dropped from the cache; the next chunks reuse its pages.
//
// Nothing waits for the disk: pages not yet written back are simply not dropped and stay cached,
// as they would without this, so a slow disk costs memory, not transcript bytes. Small files (a
// whole SMTP session) never reach a chunk and are left to the kernel.
#pragma once

#include <cstdint>

namespace mailtap::transcript {

class WriteBehind {
 public:
  static constexpr uint64_t kChunk = 1 << 20;  // writeback is started every MiB written
  static constexpr uint64_t kLag = 16 << 20;   // pages stay cached this far behind the end

  // Called after `bytes` more were appended to `fd` (a file this writer created and alone writes).
  // Returns 0, or the errno of a write-back error the kernel reported for the file (EIO, ENOSPC:
  // data is not on disk). After any error it does nothing more; files and systems that do not
  // support it turn it off silently.
  int wrote(int fd, uint64_t bytes);

  uint64_t written() const { return written_; }
  // Bytes from the start of the file that were offered to the kernel to drop from its cache.
  uint64_t dropped() const { return dropped_; }

 private:
  int stop(int err);

  // One per recorded session, idle ones included: three words, no flag beside them.
  static constexpr uint64_t kOff = UINT64_MAX;  // in started_: turned off

  uint64_t written_ = 0;
  uint64_t started_ = 0;  // writeback requested up to here
  uint64_t dropped_ = 0;  // POSIX_FADV_DONTNEED given up to here
};

}  // namespace mailtap::transcript
