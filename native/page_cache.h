// cachestat(2) for native callers: how many pages of a file range are in the page cache.
#pragma once

#include <cstdint>

namespace zerocopy {

// Pages of [offset, offset + length) in the page cache, or -errno (ENOSYS before Linux 6.5).
int64_t CachedPageCount(int fd, uint64_t offset, uint64_t length);

}  // namespace zerocopy
