// Process-local wake-ups by eventfd. A subscriber whose producer runs in its own process
// (this thread or a Worker) sleeps on an eventfd that its event loop watches directly:
// one hop from publish to the loop, instead of futex -> waiter thread -> uv_async.
//
// The descriptors are kept here, in this process, keyed by the channel's memfd identity
// and the subscriber's index; shared memory only says that a subscriber sleeps. A peer
// writing that flag can at most wake one of our own sleepers early, never make us write
// to a descriptor it chose.
#pragma once

#include <cstdint>

namespace zerocopy::ipc {

struct EventKey {
  uint64_t device;
  uint64_t inode;
  uint32_t index;
};

void RegisterEventFd(const EventKey& key, int fd);
// After this returns no thread writes to `fd` any more: the caller may close it.
void UnregisterEventFd(const EventKey& key);
// Signals the eventfd registered under `key` in this process, if any.
void SignalEventFd(const EventKey& key);

}  // namespace zerocopy::ipc
