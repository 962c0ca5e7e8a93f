// Wake-ups an event loop can poll directly: one hop from publish (or release) to the
// sleeper's loop, instead of futex -> waiter thread -> uv_async.
//
// - A sleeper whose waker runs in its own process (this thread or a Worker) sleeps on an
//   eventfd kept here, in this process, keyed by the channel's memfd identity and the
//   participant's index.
// - A sleeper whose waker runs in another process sleeps on a datagram socket bound to an
//   abstract name made of the same key and its pid; the waker sends it one byte.
//
// Shared memory only says that (and how) a participant sleeps, and its pid. A peer
// writing those can at most make us wake one of our own sleepers early, or send one byte
// to another socket named under our prefix; never make us write to a descriptor it chose.
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

// A non-blocking datagram socket bound to the name of (key, pid) -> fd | -errno
// (-EADDRINUSE: someone holds the name; the caller then sleeps on the futex).
int BindWakeSocket(const EventKey& key, uint32_t pid);
// Sends one byte to the socket of (key, pid) -> 0 | -errno (-ECONNREFUSED: nobody bound
// it, e.g. the sleeper runs in another network namespace).
int SendWake(const EventKey& key, uint32_t pid);
// Reads the wake-up a socket received.
void DrainWakeSocket(int fd);

}  // namespace zerocopy::ipc
