// Making and mapping the shared memory of a channel: a sealed memfd, mapped shared.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ipc/ring_layout.h"

namespace zerocopy::ipc {

struct Mapping {
  Header* header = nullptr;
  size_t length = 0;
  // The immutable geometry, copied once the header was checked; never read again from
  // shared memory.
  uint32_t slot_size = 0;
  uint32_t slot_count = 0;
  uint32_t mode = 0;
  uint32_t overflow = 0;
  uint32_t max_subscribers = 0;
  uint64_t data_offset = 0;
  // The memfd's identity: the key of this channel's eventfds in the process registry.
  uint64_t device = 0;
  uint64_t inode = 0;
};

// A new memfd sized, initialised and sealed for this geometry -> fd | -errno.
int CreateChannelMemory(uint32_t slot_size, uint32_t slot_count, uint32_t mode, uint32_t overflow,
                        uint32_t max_subscribers);

// Maps a channel's memfd after checking it is one: sealed against shrinking and growing
// (no SIGBUS from a truncated mapping), of the size its header claims, with a geometry we
// accept -> 0 | -errno (-EBADF not a sealed memfd, -EPROTO not a channel).
int MapChannelMemory(int fd, Mapping* mapping);

void UnmapChannelMemory(Mapping* mapping);

}  // namespace zerocopy::ipc
