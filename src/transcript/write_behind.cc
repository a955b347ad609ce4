#include "mailtap/transcript/write_behind.h"

#include <fcntl.h>

#include <cerrno>

namespace mailtap::transcript {

int WriteBehind::stop(int err) {
  started_ = kOff;
  // EIO, ENOSPC: the kernel could not write pages of this file back, so the transcript has a
  // hole on disk, which the caller reports. Anything else (EINVAL, ESPIPE, ENOSYS): not a file
  // or file system that supports it, and the kernel is left to do as it does.
  return err == EIO || err == ENOSPC ? err : 0;
}

int WriteBehind::wrote(int fd, uint64_t bytes) {
  written_ += bytes;
#ifdef __linux__
  if (started_ == kOff || written_ - started_ < kChunk) return 0;
  auto off = [](uint64_t v) { return static_cast<off_t>(v); };
  // Asynchronous: queues the new chunk for writing and returns (as the kernel's flusher would
  // later).
  if (::sync_file_range(fd, off(started_), off(written_ - started_), SYNC_FILE_RANGE_WRITE) != 0) {
    return stop(errno);
  }
  started_ = written_;
  if (started_ < kLag || started_ - kLag - dropped_ < kChunk) return 0;
  // Writeback of this range was started at least kLag ago. Pages it has finished are clean and
  // go; the kernel skips dirty ones and ones still being written, so this never waits.
  const uint64_t upto = started_ - kLag;
  ::posix_fadvise(fd, off(dropped_), off(upto - dropped_), POSIX_FADV_DONTNEED);
  dropped_ = upto;
#else
  (void)fd;
#endif
  return 0;
}

}  // namespace mailtap::transcript
