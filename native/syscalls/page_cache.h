// cachestat(2) for native callers: how many pages of a file range are in the page cache.
#pragma once

#include <cstdint>

namespace zerocopy {

// Pages of [offset, offset + length) in the page cache, or -errno (ENOSYS before Linux 6.5).
int64_t CachedPageCount(int fd, uint64_t offset, uint64_t length);

// 1 when every page of [offset, offset + length) is in the page cache and none is still
// being read in, 0 when not, -errno when cachestat(2) cannot tell. cachestat counts a page
// as cached from the moment readahead inserts it, before its I/O completes; a call that
// reads such a page sleeps until the disk answers. So pages through the range are also
// probed with 1-byte RWF_NOWAIT reads, which fail with EAGAIN on a page under I/O.
int ResidentNow(int fd, uint64_t offset, uint64_t length);

}  // namespace zerocopy
