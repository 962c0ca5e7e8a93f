// A private epoll set watched by one libuv poll handle: how native code waits on descriptors
// that Node's own handles already watch (libuv allows one poll handle per descriptor).
#pragma once

#include <napi.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>

namespace zerocopy {

struct EpollWatch {
  int epoll_fd = -1;
  uv_poll_t* poll = nullptr;
};

// A new epoll set and a poll handle on it (not started), with `owner` as its data.
inline EpollWatch OpenEpollWatch(Napi::Env env, void* owner) {
  EpollWatch watch;
  watch.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (watch.epoll_fd < 0) throw Napi::Error::New(env, "epoll_create1 failed");
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  watch.poll = new uv_poll_t;
  uv_poll_init(loop, watch.poll, watch.epoll_fd);
  watch.poll->data = owner;
  return watch;
}

// The same, started on readable and unreferenced: it keeps the loop alive only while its
// owner refs it (whenever it holds connections).
inline EpollWatch StartEpollWatch(Napi::Env env, void* owner, uv_poll_cb on_readable) {
  EpollWatch watch = OpenEpollWatch(env, owner);
  uv_poll_start(watch.poll, UV_READABLE, on_readable);
  uv_unref(reinterpret_cast<uv_handle_t*>(watch.poll));
  return watch;
}

// Stops and frees the handle (once libuv is done with it) and closes the set.
inline void CloseEpollWatch(EpollWatch& watch) {
  if (watch.epoll_fd < 0) return;
  uv_poll_stop(watch.poll);
  uv_close(reinterpret_cast<uv_handle_t*>(watch.poll), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
  close(watch.epoll_fd);
  watch = EpollWatch();
}

// An idle handle (not started) with `owner` as its data: work a turn of the event loop had
// no time left for runs on the next turn (uv_idle_start), and the loop does not sleep meanwhile.
inline uv_idle_t* OpenIdle(Napi::Env env, void* owner) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* idle = new uv_idle_t;
  uv_idle_init(loop, idle);
  idle->data = owner;
  return idle;
}

// Stops and frees the handle (once libuv is done with it).
inline void CloseIdle(uv_idle_t*& idle) {
  if (idle == nullptr) return;
  uv_idle_stop(idle);
  uv_close(reinterpret_cast<uv_handle_t*>(idle), [](uv_handle_t* handle) { delete reinterpret_cast<uv_idle_t*>(handle); });
  idle = nullptr;
}

inline int64_t MonotonicNs() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// How long native work may run per turn of the event loop (transfer()'s pacer's slice, from
// JavaScript): what is left waits for the next turn, so that timers and JavaScript run between.
struct TurnBudget {
  int64_t slice_ns = 0;  // the owner sets it from its turnSliceMs option
  int64_t start_ns = 0;
  int64_t deadline_ns = INT64_MAX;

  void Start() {
    start_ns = MonotonicNs();
    deadline_ns = start_ns + slice_ns;
  }
  bool Spent() const { return MonotonicNs() > deadline_ns; }
};

}  // namespace zerocopy
