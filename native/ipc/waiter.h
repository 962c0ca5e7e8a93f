// How a participant waits without blocking the event loop. A participant whose waking
// peers run in this process (a subscriber's producer; all of a producer's subscribers)
// sleeps on an eventfd the loop polls directly (one hop: publish or release writes it). Otherwise a thread sleeps on the channel's futex for the
// loop: when the awaited condition holds (or a peer is gone) it signals a uv_async, and
// the loop thread drains every ready message in one go. One waiter per participant, its
// thread and eventfd made on the first wait that needs them, released on close.
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
  bool ArmEvent(Want want);  // false: no eventfd here, use the thread
  static void OnEvent(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  void FireEvent();

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
  int event_fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  bool event_armed_ = false;
  Want event_want_ = Want::kData;
};

}  // namespace zerocopy::ipc
