// WriteBehind on a real file: what it drops from the page cache, that the bytes stay intact, and
// that it steps aside on what is not a file. Residency is read with mincore(2) on a mapping of
// the file, which does not fault pages in.
#include "mailtap/transcript/write_behind.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "transcript_test_util.h"

namespace mailtap::transcript {
namespace {

constexpr uint64_t kMiB = 1 << 20;

class WriteBehindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_dir("write_behind");
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "t.jsonl").string();
    fd_ = ::open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
    std::filesystem::remove_all(dir_);
  }

  // Pages of [from, to) in the page cache, read through a private read-only mapping.
  size_t resident_pages(uint64_t from, uint64_t to) const {
    int rfd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd < 0) return 0;
    void* map = ::mmap(nullptr, to, PROT_READ, MAP_SHARED, rfd, 0);
    ::close(rfd);
    if (map == MAP_FAILED) return 0;
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> in_core((to + page - 1) / page);
    size_t count = 0;
    if (::mincore(map, to, in_core.data()) == 0) {
      for (size_t i = from / page; i < in_core.size(); ++i) count += in_core[i] & 1;
    }
    ::munmap(map, to);
    return count;
  }

  // Appends `n` bytes of a pattern that tells every offset apart, the way the writer does.
  void append(uint64_t n) {
    std::string piece(n, '\0');
    for (uint64_t i = 0; i < n; ++i) piece[i] = static_cast<char>('a' + (appended_ + i) % 23);
    ASSERT_EQ(::write(fd_, piece.data(), piece.size()), static_cast<ssize_t>(piece.size()));
    appended_ += n;
  }

  std::filesystem::path dir_;
  std::string path_;
  int fd_ = -1;
  uint64_t appended_ = 0;
};

TEST_F(WriteBehindTest, DropsWhatWasWrittenALagAgoAndKeepsTheRecentPart) {
  // Calibration: where dropping clean pages has no effect (tmpfs keeps its pages: they are the
  // file), there is nothing to observe.
  append(kMiB);
  ASSERT_EQ(::fdatasync(fd_), 0);
  ASSERT_EQ(::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED), 0);
  if (resident_pages(0, kMiB) > 0) GTEST_SKIP() << "this file system keeps dropped pages";

  WriteBehind wb;
  ASSERT_EQ(wb.wrote(fd_, kMiB), 0);
  const uint64_t total = WriteBehind::kLag + 24 * kMiB;
  while (appended_ < total) {
    append(256 << 10);
    // Waiting for the disk here (the writer never does) makes every page the drop reaches clean,
    // so what it leaves is what it was meant to leave.
    ASSERT_EQ(::fdatasync(fd_), 0);
    ASSERT_EQ(wb.wrote(fd_, 256 << 10), 0);
  }
  EXPECT_EQ(wb.written(), total);
  // Dropped up to the lag behind the last chunk boundary, in whole chunks.
  EXPECT_GE(wb.dropped(), total - WriteBehind::kLag - WriteBehind::kChunk);
  EXPECT_LE(wb.dropped(), total - WriteBehind::kLag);

  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t old_pages = wb.dropped() / page;
  const size_t recent_pages = (total - wb.dropped()) / page;
  // Without WriteBehind all of it would be cached (checked below on a second file).
  EXPECT_LE(resident_pages(0, wb.dropped()), old_pages / 50) << "old part still cached";
  EXPECT_GE(resident_pages(wb.dropped(), total), recent_pages / 2) << "recent part dropped";
}

TEST_F(WriteBehindTest, WithoutItTheSameFileStaysCached) {
  // The control for the test above: the same writes and syncs, no WriteBehind.
  append(kMiB);
  ASSERT_EQ(::fdatasync(fd_), 0);
  ASSERT_EQ(::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED), 0);
  if (resident_pages(0, kMiB) > 0) GTEST_SKIP() << "this file system keeps dropped pages";
  const uint64_t total = 16 * kMiB;
  while (appended_ < total) {
    append(256 << 10);
    ASSERT_EQ(::fdatasync(fd_), 0);
  }
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_GE(resident_pages(kMiB, total), (total - kMiB) / page / 2);
}

TEST_F(WriteBehindTest, TheBytesReadBackIntact) {
  WriteBehind wb;
  const uint64_t total = WriteBehind::kLag + 8 * kMiB + 12345;
  uint64_t step = 1;
  while (appended_ < total) {
    const uint64_t n = std::min<uint64_t>(step, total - appended_);
    append(n);
    ASSERT_EQ(wb.wrote(fd_, n), 0);
    step = step * 3 % (700 << 10) + 1;  // pieces from a byte to most of a MiB
  }
  ::close(fd_);
  fd_ = -1;
  const std::string back = testing::slurp(path_);
  ASSERT_EQ(back.size(), total);
  uint64_t wrong = 0;
  for (uint64_t i = 0; i < total; ++i) wrong += back[i] != static_cast<char>('a' + i % 23);
  EXPECT_EQ(wrong, 0u);
  EXPECT_GT(wb.dropped(), 0u);
}

TEST(WriteBehindOnAPipe, TurnsItselfOffWithoutAnError) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  WriteBehind wb;
  // sync_file_range on a pipe fails with ESPIPE: not an error of the transcript.
  EXPECT_EQ(wb.wrote(p[1], 2 * WriteBehind::kChunk), 0);
  EXPECT_EQ(wb.wrote(p[1], WriteBehind::kLag + 2 * WriteBehind::kChunk), 0);
  EXPECT_EQ(wb.dropped(), 0u);
  ::close(p[0]);
  ::close(p[1]);
}

}  // namespace
}  // namespace mailtap::transcript
