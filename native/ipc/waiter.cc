#include "ipc/waiter.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace zerocopy::ipc {

namespace {
// How often a sleeping waiter looks for dead peers (pidfd), and the longest a wake-up a
// peer skipped (or a corrupt sleeping count) can be late.
constexpr int kPeerCheckMs = 100;
}  // namespace

Waiter::Waiter(uv_loop_t* loop, Ring* ring, Callback on_ready, void* context)
    : loop_(loop), ring_(ring), on_ready_(on_ready), context_(context), async_(new uv_async_t) {
  uv_async_init(loop, async_, OnAsync);
  async_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(async_));
}

Waiter::~Waiter() { Stop(); }

void Waiter::Arm(Want want) {
  if (stopping_.load()) return;
  if (ring_->PeersLocal(want) && ArmEvent(want)) return;
  if (!referenced_) {
    uv_ref(reinterpret_cast<uv_handle_t*>(async_));
    referenced_ = true;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (armed_) return;
    armed_ = true;
    want_ = want;
  }
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  armed_changed_.notify_one();
}

bool Waiter::ArmEvent(Want want) {
  if (event_armed_) return true;
  if (event_fd_ < 0) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return false;
    poll_ = new uv_poll_t;
    if (uv_poll_init(loop_, poll_, fd) != 0) {
      delete poll_;
      poll_ = nullptr;
      close(fd);
      return false;
    }
    poll_->data = this;
    event_fd_ = fd;
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
    RegisterEventFd(ring_->event_key(), fd);
  }
  event_armed_ = true;
  event_want_ = want;
  // Ready already: the callback still comes from the loop, never from inside wait().
  if (ring_->ArmEventSleep(want)) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t written = write(event_fd_, &one, sizeof(one));
  }
  uv_poll_start(poll_, UV_READABLE, OnEvent);  // an active poll keeps the loop alive
  // A subscriber from another process may attach while the producer sleeps: it cannot
  // signal our eventfd, so look (and check for dead peers) as the waiter thread would.
  if (want == Want::kSpace) uv_timer_start(timer_, OnTimer, kPeerCheckMs, kPeerCheckMs);
  return true;
}

void Waiter::OnTimer(uv_timer_t* handle) {
  auto* self = static_cast<Waiter*>(handle->data);
  if (self == nullptr || !self->event_armed_) return;
  self->ring_->CheckPeers(self->event_want_);
  if (self->ring_->Ready(self->event_want_)) self->FireEvent();
}

void Waiter::OnEvent(uv_poll_t* handle, int /*status*/, int /*events*/) {
  auto* self = static_cast<Waiter*>(handle->data);
  if (self == nullptr || !self->event_armed_) return;
  self->FireEvent();
}

void Waiter::FireEvent() {
  uint64_t count;
  [[maybe_unused]] ssize_t drained = read(event_fd_, &count, sizeof(count));
  uv_poll_stop(poll_);
  uv_timer_stop(timer_);
  event_armed_ = false;
  // A wake-up that raced our own re-check may leave a stale signal: the next wait then
  // returns at once and finds nothing, which the caller's loop absorbs.
  ring_->ClearEventSleep();
  on_ready_(context_);
}

void Waiter::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    armed_changed_.wait(lock, [this] { return armed_ || stopping_.load(); });
    if (stopping_.load()) return;
    Want want = want_;
    lock.unlock();
    while (!stopping_.load()) {
      if (ring_->SleepOnce(want, kPeerCheckMs, stopping_)) break;
      ring_->CheckPeers(want);
    }
    lock.lock();
    armed_ = false;
    if (stopping_.load()) return;
    uv_async_send(async_);
  }
}

void Waiter::OnAsync(uv_async_t* handle) {
  auto* self = static_cast<Waiter*>(handle->data);
  if (self == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    if (self->armed_) return;  // re-armed meanwhile: its own signal follows
  }
  if (self->referenced_) {
    uv_unref(reinterpret_cast<uv_handle_t*>(self->async_));
    self->referenced_ = false;
  }
  self->on_ready_(self->context_);
}

void Waiter::Stop() {
  if (async_ == nullptr) return;
  if (poll_ != nullptr) {
    UnregisterEventFd(ring_->event_key());  // no producer writes to it after this
    ring_->ClearEventSleep();
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
    uv_timer_stop(timer_);
    timer_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    timer_ = nullptr;
    close(event_fd_);
    event_fd_ = -1;
    event_armed_ = false;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);  // before the interrupt: SleepOnce checks it after loading the word
    if (armed_) ring_->Interrupt(want_);
  }
  armed_changed_.notify_one();
  if (thread_.joinable()) thread_.join();
  async_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(async_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_async_t*>(handle); });
  async_ = nullptr;
}

}  // namespace zerocopy::ipc
