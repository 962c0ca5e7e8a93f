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
  if (ring_->PeersLocal(want) ? ArmEvent(want, kLocal) : (!remote_unusable_ && ArmEvent(want, kRemote))) return;
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

bool Waiter::OpenSource(Source source) {
  if (fds_[source] >= 0) return true;
  int fd = source == kLocal ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : BindWakeSocket(ring_->event_key(), ring_->pid());
  if (fd < 0) {
    if (source == kRemote) remote_unusable_ = true;
    return false;
  }
  auto* poll = new uv_poll_t;
  if (uv_poll_init(loop_, poll, fd) != 0) {
    delete poll;
    close(fd);
    if (source == kRemote) remote_unusable_ = true;
    return false;
  }
  poll->data = this;
  fds_[source] = fd;
  polls_[source] = poll;
  if (timer_ == nullptr) {
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  }
  if (source == kLocal) RegisterEventFd(ring_->event_key(), fd);
  return true;
}

bool Waiter::ArmEvent(Want want, Source source) {
  if (event_armed_) return true;
  if (!OpenSource(source)) return false;
  event_armed_ = true;
  event_source_ = source;
  event_want_ = want;
  // Ready already: the callback still comes from the loop, never from inside wait().
  if (ring_->ArmEventSleep(want, source == kLocal ? kEventFd : kWakeSocket)) {
    if (source == kLocal) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t written = write(fds_[source], &one, sizeof(one));
    } else {
      SendWake(ring_->event_key(), ring_->pid());
    }
  }
  // The poll stays started between waits (no epoll_ctl per wake-up), referenced only while
  // armed: an armed poll keeps the loop alive, an idle one does not.
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(polls_[source]))) {
    uv_poll_start(polls_[source], UV_READABLE, OnEvent);
  }
  uv_ref(reinterpret_cast<uv_handle_t*>(polls_[source]));
  // Peers in another process may die; for space, a subscriber from elsewhere may attach
  // while the producer sleeps and could not signal our eventfd: look, as the waiter
  // thread would. A wake-up a peer could not deliver is found here too.
  if (source == kRemote || want == Want::kSpace) uv_timer_start(timer_, OnTimer, kPeerCheckMs, kPeerCheckMs);
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
  if (self == nullptr) return;
  if (!self->event_armed_ || self->polls_[self->event_source_] != handle) {
    // A late wake-up while not waiting (or on the other source): consume it, or the
    // level-triggered poll would report it again and again.
    self->Drain(handle == self->polls_[kLocal] ? kLocal : kRemote);
    return;
  }
  self->FireEvent();
}

void Waiter::Drain(Source source) {
  if (fds_[source] < 0) return;
  if (source == kLocal) {
    uint64_t count;
    [[maybe_unused]] ssize_t drained = read(fds_[source], &count, sizeof(count));
  } else {
    DrainWakeSocket(fds_[source]);
  }
}

void Waiter::FireEvent() {
  Source source = event_source_;
  Drain(source);
  uv_unref(reinterpret_cast<uv_handle_t*>(polls_[source]));
  uv_timer_stop(timer_);
  event_armed_ = false;
  // A wake-up that raced our own re-check may leave a stale signal: the next wait then
  // returns at once and finds nothing, which the caller's loop absorbs.
  if (ring_->ClearEventSleep() == kUnreachable && source == kRemote) {
    remote_unusable_ = true;
    CloseSource(kRemote);
  }
  on_ready_(context_);
}

void Waiter::CloseSource(Source source) {
  if (polls_[source] == nullptr) return;
  if (source == kLocal) UnregisterEventFd(ring_->event_key());  // no producer writes to it after this
  uv_poll_stop(polls_[source]);
  polls_[source]->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(polls_[source]),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
  polls_[source] = nullptr;
  close(fds_[source]);
  fds_[source] = -1;
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
  if (timer_ != nullptr) {
    ring_->ClearEventSleep();
    CloseSource(kLocal);
    CloseSource(kRemote);
    uv_timer_stop(timer_);
    timer_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    timer_ = nullptr;
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
