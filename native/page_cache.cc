#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "args.h"
#include "exports.h"
#include "page_cache.h"

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

// cachedPages(fd, offset, length) -> pages of the range in the page cache | -errno
// (ENOSYS before Linux 6.5). Lets a transfer run inline when the bytes are in memory and
// move to the thread pool when the call would wait for the disk.
int64_t CachedPageCount(int fd, uint64_t offset, uint64_t length) {
  CachestatRange range = {offset, length};
  Cachestat stat = {};
  long result = syscall(__NR_cachestat, fd, &range, &stat, 0);
  return result < 0 ? -errno : static_cast<int64_t>(stat.nr_cache);
}

Napi::Value CachedPages(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), CachedPageCount(FdArg(info, 0), static_cast<uint64_t>(Int64Arg(info, 1)),
                                                  static_cast<uint64_t>(Int64Arg(info, 2))));
}

}  // namespace zerocopy
