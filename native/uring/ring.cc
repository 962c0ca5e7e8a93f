#include "uring/ring.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace zerocopy {

// RECV (peek, and dropping what was answered), SENDMSG (heads and small bodies),
// POLL_ADD (room to write for sendfile), ASYNC_CANCEL (a connection that leaves).
const uint8_t kFrontRingOps[] = {IORING_OP_RECV, IORING_OP_SENDMSG, IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL};
const size_t kFrontRingOpCount = sizeof kFrontRingOps;

namespace {

int Setup(unsigned entries, struct io_uring_params* params) {
  long fd = syscall(__NR_io_uring_setup, entries, params);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

int Register(int fd, unsigned opcode, void* arg, unsigned count) {
  return syscall(__NR_io_uring_register, fd, opcode, arg, count) < 0 ? -errno : 0;
}

// Whether every opcode in `ops` is supported; -errno when the probe itself fails.
int SupportsAll(int fd, const uint8_t* ops, size_t count) {
  const unsigned kOps = 256;
  size_t size = sizeof(struct io_uring_probe) + kOps * sizeof(struct io_uring_probe_op);
  auto* probe = static_cast<struct io_uring_probe*>(calloc(1, size));
  if (probe == nullptr) return -ENOMEM;
  int result = Register(fd, IORING_REGISTER_PROBE, probe, kOps);
  for (size_t i = 0; result == 0 && i < count; i++) {
    if (ops[i] >= probe->ops_len || (probe->ops[ops[i]].flags & IO_URING_OP_SUPPORTED) == 0) result = -EOPNOTSUPP;
  }
  free(probe);
  return result;
}

}  // namespace

int Ring::Open(unsigned entries, const uint8_t* needed_ops, size_t needed_count) {
  // Completions are reaped between event-loop turns, not by a thread in io_uring_enter: task
  // work runs cooperatively (no interrupt per completion: COOP_TASKRUN) and the ring says when
  // an enter is needed to run it (TASKRUN_FLAG). Not DEFER_TASKRUN: libuv waits on the ring's
  // descriptor with epoll, and deferred work wakes only a task waiting in io_uring_enter.
  // Older kernels refuse newer flags with EINVAL: each set is tried in turn.
  const unsigned kFlagSets[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
      0,
  };
  struct io_uring_params params;
  int fd = -EINVAL;
  for (unsigned flags : kFlagSets) {
    std::memset(&params, 0, sizeof params);
    params.flags = flags | IORING_SETUP_CQSIZE;
    params.cq_entries = entries * kCompletionsPerEntry;
    fd = Setup(entries, &params);
    flags_ = flags;
    if (fd != -EINVAL) break;
  }
  if (fd < 0) return fd;
  fd_ = fd;
  // Single mmap, fast poll (a receive waiting for data costs no thread) and CQE skipping.
  const unsigned kFeatures = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_FAST_POLL | IORING_FEAT_NODROP | IORING_FEAT_CQE_SKIP;
  int supported = (params.features & kFeatures) == kFeatures ? SupportsAll(fd, needed_ops, needed_count) : -EOPNOTSUPP;
  if (supported < 0) {
    Close();
    return supported;
  }
  sq_map_size_ = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
  if (cq_size > sq_map_size_) sq_map_size_ = cq_size;
  sq_map_ = mmap(nullptr, sq_map_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  if (sq_map_ == MAP_FAILED) {
    sq_map_ = nullptr;
    int error = -errno;
    Close();
    return error;
  }
  cq_map_ = sq_map_;  // IORING_FEAT_SINGLE_MMAP
  sqes_size_ = params.sq_entries * sizeof(struct io_uring_sqe);
  void* sqes = mmap(nullptr, sqes_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  if (sqes == MAP_FAILED) {
    int error = -errno;
    Close();
    return error;
  }
  sqes_ = static_cast<struct io_uring_sqe*>(sqes);
  char* sq = static_cast<char*>(sq_map_);
  sq_head_ = reinterpret_cast<unsigned*>(sq + params.sq_off.head);
  sq_tail_ptr_ = reinterpret_cast<unsigned*>(sq + params.sq_off.tail);
  sq_flags_ = reinterpret_cast<unsigned*>(sq + params.sq_off.flags);
  sq_array_ = reinterpret_cast<unsigned*>(sq + params.sq_off.array);
  sq_mask_ = *reinterpret_cast<unsigned*>(sq + params.sq_off.ring_mask);
  sq_entries_ = params.sq_entries;
  sq_tail_ = submitted_ = *sq_tail_ptr_;
  // The array maps slot i to entry i for good.
  for (unsigned i = 0; i < sq_entries_; i++) sq_array_[i] = i;
  char* cq = static_cast<char*>(cq_map_);
  cq_head_ = reinterpret_cast<unsigned*>(cq + params.cq_off.head);
  cq_tail_ = reinterpret_cast<unsigned*>(cq + params.cq_off.tail);
  cq_mask_ = *reinterpret_cast<unsigned*>(cq + params.cq_off.ring_mask);
  cqes_ = reinterpret_cast<struct io_uring_cqe*>(cq + params.cq_off.cqes);
  return 0;
}

void Ring::Close() {
  // Closing the descriptor cancels whatever is still in flight.
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (sqes_ != nullptr) munmap(sqes_, sqes_size_);
  if (sq_map_ != nullptr) munmap(sq_map_, sq_map_size_);
  if (buf_ring_ != nullptr) munmap(buf_ring_, buf_ring_size_);
  if (buffers_ != nullptr) munmap(buffers_, buffers_bytes_);
  sqes_ = nullptr;
  sq_map_ = cq_map_ = nullptr;
  buf_ring_ = nullptr;
  buffers_ = nullptr;
}

struct io_uring_sqe* Ring::Next() {
  if (sq_tail_ - __atomic_load_n(sq_head_, __ATOMIC_ACQUIRE) >= sq_entries_) return nullptr;
  struct io_uring_sqe* sqe = &sqes_[sq_tail_ & sq_mask_];
  std::memset(sqe, 0, sizeof *sqe);
  sq_tail_++;
  return sqe;
}

bool Ring::HasWork() const {
  // Overflowed completions keep the ring's descriptor readable: without an enter to flush
  // them, the loop would be woken for them forever and never see them.
  const unsigned kEnterFor = IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW;
  return sq_tail_ != submitted_ || (__atomic_load_n(sq_flags_, __ATOMIC_RELAXED) & kEnterFor) != 0;
}

int Ring::Submit() {
  unsigned count = sq_tail_ - submitted_;
  __atomic_store_n(sq_tail_ptr_, sq_tail_, __ATOMIC_RELEASE);
  for (;;) {
    long taken = syscall(__NR_io_uring_enter, fd_, count, 0, IORING_ENTER_GETEVENTS, nullptr, 0);
    if (taken < 0 && errno == EINTR) continue;
    if (taken < 0) return -errno;
    submitted_ += static_cast<unsigned>(taken);
    return static_cast<int>(taken);
  }
}

int Ring::Wait(unsigned min_complete, long long timeout_ns) {
  struct __kernel_timespec timeout = {timeout_ns / 1000000000, timeout_ns % 1000000000};
  struct io_uring_getevents_arg arg;
  std::memset(&arg, 0, sizeof arg);
  arg.ts = reinterpret_cast<uint64_t>(&timeout);
  long result = syscall(__NR_io_uring_enter, fd_, 0, min_complete, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg,
                        sizeof arg);
  if (result >= 0) return 0;
  if (errno != EINVAL) return -errno;
  // No IORING_ENTER_EXT_ARG (before 5.11): sleep, then collect what arrived.
  struct timespec pause = {timeout.tv_sec, static_cast<long>(timeout.tv_nsec)};
  nanosleep(&pause, nullptr);
  result = syscall(__NR_io_uring_enter, fd_, 0, 0, IORING_ENTER_GETEVENTS, nullptr, 0);
  return result < 0 ? -errno : 0;
}

int Ring::ProvideBuffers(uint16_t group, unsigned count, size_t size) {
  buf_ring_size_ = count * sizeof(struct io_uring_buf);
  void* ring = mmap(nullptr, buf_ring_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ring == MAP_FAILED) return -errno;
  buf_ring_ = static_cast<struct io_uring_buf_ring*>(ring);
  buffers_bytes_ = count * size;
  void* buffers = mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buffers == MAP_FAILED) {
    buffers_ = nullptr;
    return -errno;
  }
  buffers_ = static_cast<char*>(buffers);
  buffer_size_ = size;
  buf_count_ = count;
  struct io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof reg);
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.ring_entries = count;
  reg.bgid = group;
  int result = Register(fd_, IORING_REGISTER_PBUF_RING, &reg, 1);
  if (result < 0) return result;
  buf_tail_ = 0;
  for (unsigned id = 0; id < count; id++) Recycle(static_cast<uint16_t>(id));
  return 0;
}

// The ring is an array of io_uring_buf whose first entry's `resv` is the tail. (Not through
// io_uring_buf_ring's `bufs`: in C++ the headers' __DECLARE_FLEX_ARRAY puts an empty struct
// before it, which moves it 8 bytes.)
void Ring::Recycle(uint16_t id) {
  auto* entries = reinterpret_cast<struct io_uring_buf*>(buf_ring_);
  struct io_uring_buf* buf = &entries[buf_tail_ & (buf_count_ - 1)];
  buf->addr = reinterpret_cast<uint64_t>(Buffer(id));
  buf->len = static_cast<uint32_t>(buffer_size_);
  buf->bid = id;
  buf_tail_++;
  __atomic_store_n(&entries[0].resv, buf_tail_, __ATOMIC_RELEASE);
}

}  // namespace zerocopy
