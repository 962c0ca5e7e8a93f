// A small io_uring wrapper on the raw system calls (no liburing: no new build or install
// dependency): set-up with the flags this kernel takes, the mapped submission and completion
// queues, one io_uring_enter per batch, and a ring of provided buffers that receives pick from
// when their data arrives (so a connection waiting for a request holds no buffer).
//
// Everything is probed at run time: a binary built against new headers loads and runs on a
// kernel without io_uring, and Open() says why not with -errno.
#pragma once

#include <linux/io_uring.h>

#include <cstddef>
#include <cstdint>

// Newer than the oldest headers we build with; values from the kernel's uapi, which never
// changes them.
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_TASKRUN_FLAG
#define IORING_SETUP_TASKRUN_FLAG (1U << 9)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SQ_TASKRUN
#define IORING_SQ_TASKRUN (1U << 2)
#endif
#ifndef IORING_SQ_CQ_OVERFLOW
#define IORING_SQ_CQ_OVERFLOW (1U << 1)
#endif
#ifndef IORING_RECVSEND_POLL_FIRST
#define IORING_RECVSEND_POLL_FIRST (1U << 0)
#endif
#ifndef IORING_FEAT_CQE_SKIP
#define IORING_FEAT_CQE_SKIP (1U << 11)
#endif

namespace zerocopy {

class Ring {
 public:
  // Completions the queue holds per submission entry. Each connection can have a peek, a
  // hang-up poll, a send or a writable poll, and a drop completing in the same turn; past
  // this, completions wait in the kernel's overflow list until the next enter.
  static constexpr unsigned kCompletionsPerEntry = 16;

  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() { Close(); }

  // Sets up a ring of `entries` submissions (kCompletionsPerEntry times as many completions);
  // 0 or -errno
  // (-ENOSYS: no io_uring; -EPERM: kernel.io_uring_disabled or a seccomp filter;
  // -EOPNOTSUPP: an opcode or feature in `needed_ops` missing).
  int Open(unsigned entries, const uint8_t* needed_ops, size_t needed_count);
  void Close();
  bool open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // The set-up flags the kernel took (the first set it accepted).
  unsigned flags() const { return flags_; }

  // A cleared submission entry, or nullptr when the queue is full (Submit() first).
  struct io_uring_sqe* Next();
  // Submits what is queued and runs the ring's pending task work; -errno or how many were taken.
  int Submit();
  // Whether Submit() has anything to do: entries queued, task work waiting for an enter, or
  // completions the full queue could not take (kept by the kernel, IORING_FEAT_NODROP, and
  // moved into the queue only by an enter that asks for events).
  bool HasWork() const;
  // Waits up to `timeout_ns` for `min_complete` completions (running the ring's task work);
  // 0, -ETIME when the time ran out, or -errno.
  int Wait(unsigned min_complete, long long timeout_ns);
  unsigned queued() const { return sq_tail_ - submitted_; }

  // Calls `on(cqe)` for each completion ready now; how many there were.
  template <class F>
  unsigned Reap(F&& on) {
    unsigned head = *cq_head_;
    unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
    unsigned count = 0;
    while (head != tail) {
      struct io_uring_cqe cqe = cqes_[head & cq_mask_];
      head++;
      count++;
      // Advanced before `on` runs: it may queue and submit.
      __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
      on(cqe);
    }
    return count;
  }

  // Provided buffers: `count` (a power of two) of `size` bytes, group `group`; 0 or -errno.
  int ProvideBuffers(uint16_t group, unsigned count, size_t size);
  char* Buffer(uint16_t id) const { return buffers_ + static_cast<size_t>(id) * buffer_size_; }
  size_t buffer_size() const { return buffer_size_; }
  // Gives a buffer a completion picked back to the ring.
  void Recycle(uint16_t id);

 private:
  int fd_ = -1;
  unsigned flags_ = 0;
  void* sq_map_ = nullptr;
  size_t sq_map_size_ = 0;
  void* cq_map_ = nullptr;
  size_t cq_map_size_ = 0;
  struct io_uring_sqe* sqes_ = nullptr;
  size_t sqes_size_ = 0;
  unsigned* sq_head_ = nullptr;
  unsigned* sq_tail_ptr_ = nullptr;
  unsigned* sq_flags_ = nullptr;
  unsigned* sq_array_ = nullptr;
  unsigned sq_mask_ = 0, sq_entries_ = 0;
  unsigned sq_tail_ = 0;     // ours, published at Submit()
  unsigned submitted_ = 0;   // what the kernel has taken
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  struct io_uring_cqe* cqes_ = nullptr;

  struct io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_size_ = 0;
  char* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  size_t buffer_size_ = 0;
  unsigned buf_count_ = 0;
  uint16_t buf_tail_ = 0;
};

// The opcodes the front's engine needs, for Open() and the probe.
extern const uint8_t kFrontRingOps[];
extern const size_t kFrontRingOpCount;

}  // namespace zerocopy
