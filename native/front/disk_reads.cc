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

void DiskReads::Read(uv_loop_t* loop, uint32_t connection, const Chunk& chunk) {
  loop_ = loop;
  auto read = std::make_unique<DiskRead>();
  read->alive = alive_;
  read->reads = this;
  read->connection = connection;
  read->serial = chunk.serial;
  read->entry = chunk.entry;
  read->from = chunk.resident_to;
  read->to = std::min(chunk.end, chunk.resident_to + kDiskReadWindow);
  if (running_.size() < max_in_flight_) {
    Launch(std::move(read));
  } else {
    waiting_.push_back(std::move(read));
  }
}

void DiskReads::Abandon(uint32_t connection) {
  auto running = running_.find(connection);
  if (running != running_.end()) running->second->abandoned = true;
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if ((*it)->connection != connection) continue;
    waiting_.erase(it);
    dropped_++;
    return;
  }
}

void DiskReads::Shutdown() {
  *alive_ = false;
  for (auto& [connection, read] : running_) read->abandoned = true;
  running_.clear();
  waiting_.clear();
}

void DiskReads::Launch(std::unique_ptr<DiskRead> read) {
  started_++;
  running_[read->connection] = read.get();
  read->work.data = read.get();
  uv_queue_work(loop_, &read.release()->work, Run, After);
}

void DiskReads::Finish(std::unique_ptr<DiskRead> read) {
  running_.erase(read->connection);
  bytes_ += static_cast<double>(read->read);
  // The next read starts before this one is handed over: the callback may queue another.
  while (!waiting_.empty() && running_.size() < max_in_flight_) {
    std::unique_ptr<DiskRead> next = std::move(waiting_.front());
    waiting_.pop_front();
    Launch(std::move(next));
  }
  if (read->abandoned) {
    dropped_++;
    return;
  }
  done_(owner_, *read);
}

// sendfile into /dev/null waits for the disk like any read of the file, but copies nothing:
// the pages stay in the page cache for the sendfile to the socket.
void DiskReads::Run(uv_work_t* work) {
  auto* read = static_cast<DiskRead*>(work->data);
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0) {
    read->error = errno;
    return;
  }
  off_t offset = static_cast<off_t>(read->from);
  // Bounded by the window: every call moves bytes, or ends the loop.
  while (static_cast<size_t>(offset) < read->to && !read->abandoned) {
    size_t step = std::min(kDiskReadStep, read->to - static_cast<size_t>(offset));
    ssize_t n = sendfile(null, read->entry->body_fd, &offset, step);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) read->error = errno;
    // 0: the file shrank; the sendfile to the socket finds that out and cuts the response.
    if (n <= 0) break;
    read->read += static_cast<size_t>(n);
  }
  close(null);
}

void DiskReads::After(uv_work_t* work, int) {
  std::unique_ptr<DiskRead> read(static_cast<DiskRead*>(work->data));
  if (*read->alive) read->reads->Finish(std::move(read));
}

}  // namespace zerocopy
