#include "front/disk_reads.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "syscalls/page_cache.h"

namespace zerocopy {

namespace {

// A file found wholly in the page cache is trusted this long before cachestat looks again.
// cachestat walks every page it is asked about (about 4 ms for 1 GiB), which was 4% of the
// server's CPU when a large hot file is served back to back; eviction can race a check
// either way, and a large response lasts about this long anyway.
constexpr uint64_t kResidentTrustMs = 1000;

// sendfile into /dev/null waits for the disk like any read of the file, but copies nothing:
// the pages stay in the page cache for the sendfile to the socket.
void RunDiskRead(uv_work_t* work) {
  auto* read = static_cast<DiskRead*>(work->data);
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0) {
    read->error = errno;
    return;
  }
  off_t offset = static_cast<off_t>(read->from);
  // Bounded by the window: every call moves bytes, or ends the loop.
  while (static_cast<size_t>(offset) < read->to) {
    ssize_t n = sendfile(null, read->entry->body_fd, &offset, read->to - static_cast<size_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) read->error = errno;
    // 0: the file shrank; the sendfile to the socket finds that out and cuts the response.
    if (n <= 0) break;
  }
  close(null);
}

void FinishDiskRead(uv_work_t* work, int) {
  std::unique_ptr<DiskRead> read(static_cast<DiskRead*>(work->data));
  if (*read->alive) read->done(read->owner, *read);
}

}  // namespace

bool Resident(Chunk& chunk, uint64_t now) {
  const Entry& entry = *chunk.entry;
  if (!chunk.read_from_disk) {
    if (chunk.whole_body() && entry.resident_until <= now && ResidentNow(entry.body_fd, 0, entry.body_size) == 1)
      entry.resident_until = now + kResidentTrustMs;
    if (entry.resident_until > now) {
      chunk.resident_to = chunk.end;
      return true;
    }
  }
  size_t end = std::min(chunk.end, chunk.offset + kDiskReadWindow);
  if (ResidentNow(entry.body_fd, chunk.offset, end - chunk.offset) == 1) {
    chunk.resident_to = end;
    return true;
  }
  chunk.read_from_disk = true;
  return false;
}

size_t ReadFromDisk(uv_loop_t* loop, std::shared_ptr<bool> alive, void* owner, DiskReadDone done,
                    uint32_t connection, const Chunk& chunk) {
  auto* read = new DiskRead{{}, std::move(alive), owner, done, connection, chunk.serial, chunk.entry,
                            chunk.resident_to, std::min(chunk.end, chunk.resident_to + kDiskReadWindow)};
  read->work.data = read;
  size_t bytes = read->to - read->from;
  uv_queue_work(loop, &read->work, RunDiskRead, FinishDiskRead);
  return bytes;
}

}  // namespace zerocopy
