// Disk reads of the native front: nothing waits for the disk on the event-loop thread. A
// large file's body is sent inline only where it is in the page cache; a window that is not
// is first read into it on the thread pool (nginx's `aio threads`), while the loop goes on
// serving everyone else. That pool also runs every JavaScript file operation, so the front
// keeps at most a few reads on it and the rest wait their turn here; a read whose client has
// left is dropped before it starts, or stopped between steps.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>

#include "front/types.h"

namespace zerocopy {

// A body not in the page cache is read into it on the thread pool this much at a time, the
// next range while the one before is being sent...
constexpr size_t kDiskReadWindow = 8 << 20;
// ...in steps of this much, between which a read whose client left stops.
constexpr size_t kDiskReadStep = 1 << 20;
// Whether the next bytes of an on-disk body can be sent without waiting for the disk, moving
// chunk.resident_to past what the page cache holds. For a whole body the whole file is
// looked at first (and then trusted for a while); for a range, or once part of the file was
// missing, the window ahead.
bool Resident(Chunk& chunk, uint64_t now);

class DiskReads;

// A range of a body read into the page cache on the thread pool; it holds the entry, and so
// the file's descriptor, while the connection may close under it.
struct DiskRead {
  uv_work_t work;
  std::shared_ptr<bool> alive;  // the DiskReads': false once it is gone
  DiskReads* reads;
  uint32_t connection;
  uint64_t serial;
  EntryRef entry;
  size_t from, to;
  size_t read = 0;  // bytes read so far (on the thread pool; read on the loop thread once done)
  int error = 0;
  std::atomic<bool> abandoned{false};  // the client left: stop at the next step
};

// Called on the loop thread when a read a connection still wants is done.
using DiskReadDone = void (*)(void* owner, const DiskRead& read);

class DiskReads {
 public:
  // At most `max_in_flight` reads on the thread pool at once (at least 1), from all
  // connections, one per connection.
  DiskReads(DiskReadDone done, void* owner, size_t max_in_flight)
      : done_(done), owner_(owner), max_in_flight_(max_in_flight > 0 ? max_in_flight : 1) {}
  ~DiskReads() { Shutdown(); }

  // Reads the window after chunk.resident_to into the page cache: on the thread pool now, or
  // once a read ahead of it is done.
  void Read(uv_loop_t* loop, uint32_t connection, const Chunk& chunk);
  // The connection is gone: its waiting read is dropped, its running one stops at its next step.
  void Abandon(uint32_t connection);
  // A read that was never queued because the client had already left, counted as dropped.
  void CountDropped() { dropped_++; }
  void Shutdown();

  double started() const { return started_; }
  double dropped() const { return dropped_; }
  double bytes() const { return bytes_; }
  size_t running() const { return running_.size(); }
  size_t waiting() const { return waiting_.size(); }

 private:
  void Launch(std::unique_ptr<DiskRead> read);
  void Finish(std::unique_ptr<DiskRead> read);
  static void Run(uv_work_t* work);
  static void After(uv_work_t* work, int status);

  DiskReadDone done_;
  void* owner_;
  size_t max_in_flight_;
  uv_loop_t* loop_ = nullptr;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::deque<std::unique_ptr<DiskRead>> waiting_;
  std::unordered_map<uint32_t, DiskRead*> running_;  // by connection: one each at most
  double started_ = 0, dropped_ = 0, bytes_ = 0;
};

}  // namespace zerocopy
