// How a participant waits without blocking the event loop: always one hop from the peer's
// publish or release to this loop, which then drains every ready message in one go.
// - Waking peers in this process (a subscriber's producer; all of a producer's
//   subscribers): an eventfd the loop polls; they find it in the process's registry.
// - Waking peers in another process: a datagram socket with a name derived from the
//   channel, the participant and our pid, polled by the loop; a timer looks for dead
//   peers meanwhile (pidfd), as the waiter thread would.
// - Only when no such socket can be had or reached (a name taken, another network
//   namespace): a thread sleeps on the channel's futex and signals a uv_async.
// One waiter per participant, its descriptors and thread made on the first wait that
// needs them, released on close.
#pragma once

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "ipc/ring.h"

namespace zerocopy::ipc {

class Waiter {
 public:
  using Callback = void (*)(void* context);
  Waiter(uv_loop_t* loop, Ring* ring, Callback on_ready, void* context);
  ~Waiter();

  // One-shot: on_ready runs once on the loop thread after the condition held. Loop thread only.
  void Arm(Want want);
  // Stops the thread; the loop can exit. Loop thread only.
  void Stop();

 private:
  void Run();
  static void OnAsync(uv_async_t* handle);
  enum Source { kLocal = 0, kRemote = 1 };
  bool ArmEvent(Want want, Source source);  // false: not available, use the thread
  bool OpenSource(Source source);
  static void OnEvent(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  void FireEvent();
  void Drain(Source source);
  void CloseSource(Source source);

  uv_loop_t* loop_;
  Ring* ring_;
  Callback on_ready_;
  void* context_;
  uv_async_t* async_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable armed_changed_;
  bool armed_ = false;
  bool referenced_ = false;
  Want want_ = Want::kData;
  std::atomic<bool> stopping_{false};
  // Per source: the eventfd or the wake socket, and the loop's poll of it.
  int fds_[2] = {-1, -1};
  uv_poll_t* polls_[2] = {nullptr, nullptr};
  bool remote_unusable_ = false;
  uv_timer_t* timer_ = nullptr;
  bool event_armed_ = false;
  Source event_source_ = kLocal;
  Want event_want_ = Want::kData;
};

}  // namespace zerocopy::ipc
