#include "ipc/waiter.h"

namespace zerocopy::ipc {

namespace {
// How often a sleeping waiter looks for dead peers (pidfd), and the longest a wake-up a
// peer skipped (or a corrupt sleeping count) can be late.
constexpr int kPeerCheckMs = 100;
}  // namespace

Waiter::Waiter(uv_loop_t* loop, Ring* ring, Callback on_ready, void* context)
    : ring_(ring), on_ready_(on_ready), context_(context), async_(new uv_async_t) {
  uv_async_init(loop, async_, OnAsync);
  async_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(async_));
}

Waiter::~Waiter() { Stop(); }

void Waiter::Arm(Want want) {
  if (stopping_.load()) return;
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
