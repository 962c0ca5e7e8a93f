#include <errno.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "common/args.h"
#include "exports.h"
#include "syscalls/page_cache.h"

// cachestat(2) arrived in Linux 6.5; older libc headers lack its number and structs.
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

namespace zerocopy {

namespace {
struct CachestatRange {
  uint64_t offset;
  uint64_t length;
};
struct Cachestat {
  uint64_t nr_cache;
  uint64_t nr_dirty;
  uint64_t nr_writeback;
  uint64_t nr_evicted;
  uint64_t nr_recently_evicted;
};
}  // namespace

int64_t CachedPageCount(int fd, uint64_t offset, uint64_t length) {
  CachestatRange range = {offset, length};
  Cachestat stat = {};
  long result = syscall(__NR_cachestat, fd, &range, &stat, 0);
  return result < 0 ? -errno : static_cast<int64_t>(stat.nr_cache);
}

int ResidentNow(int fd, uint64_t offset, uint64_t length) {
  if (length == 0) return 1;
  uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  int64_t cached = CachedPageCount(fd, offset, length);
  if (cached < 0) return static_cast<int>(cached);
  uint64_t pages = (offset + length - 1) / page - offset / page + 1;
  if (static_cast<uint64_t>(cached) < pages) return 0;
  // At most 64 probes, at least 2 MiB apart, and always the last byte (readahead inserts
  // pages front to back, so the newest, likeliest still in flight, are at the end).
  uint64_t stride = std::max<uint64_t>(2 << 20, length / 64);
  for (uint64_t at = offset + std::min(stride, length) - 1;; at = std::min(at + stride, offset + length - 1)) {
    char byte;
    struct iovec vector = {&byte, 1};
    ssize_t got = preadv2(fd, &vector, 1, static_cast<off_t>(at), RWF_NOWAIT);
    if (got < 0 && errno == EAGAIN) return 0;
    // Other failures (no RWF_NOWAIT support): cachestat's word stands.
    if (got < 0 || at == offset + length - 1) return 1;
  }
}

// residentNow(fd, offset, length) -> 1 | 0 | -errno: lets a transfer run inline when the
// bytes are in memory and move to the thread pool when a call would wait for the disk.
Napi::Value ResidentPages(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), ResidentNow(FdArg(info, 0), static_cast<uint64_t>(Int64Arg(info, 1)),
                                              static_cast<uint64_t>(Int64Arg(info, 2))));
}

}  // namespace zerocopy
