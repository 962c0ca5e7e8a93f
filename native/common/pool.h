// Runs one system call on libuv's thread pool and resolves a Promise with its result
// (>= 0, or -errno). For calls that may sleep on the disk (a file that is not in the page
// cache): the event-loop thread must never wait for a disk.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>

namespace zerocopy {

// `call` runs on a pool thread: it must not touch JavaScript values, and it must return
// SyscallResult(...) so that errno is read on the thread that set it. The caller keeps
// any descriptor it uses open until the Promise settles (TypeScript holds a dup).
Napi::Promise RunInPool(Napi::Env env, std::function<int64_t()> call);
// The same, and `done` runs on the event-loop thread once `call` has returned (and before the
// Promise settles): for bookkeeping that must not race the loop, such as lending memory to
// the call and taking it back.
Napi::Promise RunInPool(Napi::Env env, std::function<int64_t()> call, std::function<void()> done);

}  // namespace zerocopy
