// A private epoll set watched by one libuv poll handle: how native code waits on descriptors
// that Node's own handles already watch (libuv allows one poll handle per descriptor).
#pragma once

#include <napi.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

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

}  // namespace zerocopy
