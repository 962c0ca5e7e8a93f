// Disk reads of the native front: nothing waits for the disk on the event-loop thread. A
// large file's body is sent inline only where it is in the page cache; a window that is not
// is first read into it on the thread pool (nginx's `aio threads`), while the loop goes on
// serving everyone else.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "front/types.h"

namespace zerocopy {

// A body not in the page cache is read into it on the thread pool this much at a time, the
// next range while the one before is being sent.
constexpr size_t kDiskReadWindow = 8 << 20;

// Whether the next bytes of an on-disk body can be sent without waiting for the disk, moving
// chunk.resident_to past what the page cache holds. For a whole body the whole file is
// looked at first (and then trusted for a while); for a range, or once part of the file was
// missing, the window ahead.
bool Resident(Chunk& chunk, uint64_t now);

// A range of a body read into the page cache on the thread pool; it holds the entry, and so
// the file's descriptor, while the connection may close under it.
struct DiskRead;
using DiskReadDone = void (*)(void* owner, const DiskRead& read);
struct DiskRead {
  uv_work_t work;
  std::shared_ptr<bool> alive;  // the owner's: false once it shut down
  void* owner;
  DiskReadDone done;  // called on the loop thread while `alive`
  uint32_t connection;
  uint64_t serial;
  EntryRef entry;
  size_t from, to;
  int error = 0;
};

// Reads the window after chunk.resident_to into the page cache, on the thread pool; returns
// how many bytes it asked for.
size_t ReadFromDisk(uv_loop_t* loop, std::shared_ptr<bool> alive, void* owner, DiskReadDone done,
                    uint32_t connection, const Chunk& chunk);

}  // namespace zerocopy
