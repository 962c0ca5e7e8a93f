#include "common/pool.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace zerocopy {

namespace {

// Bulk moves on the pool (cold files, blocking descriptors) compete with the event loop's
// thread for the CPU; on a busy machine the loop must win, or every timer and request waits.
// A pool thread that runs our calls is made 5 steps nicer than it was, once (the loop's
// thread then gets about three times its share while both want the CPU). Lowering needs no
// privilege; nothing raises it back.
void YieldToTheEventLoop() {
  thread_local bool lowered = false;
  if (lowered) return;
  lowered = true;
  id_t thread = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, thread);
  if (errno == 0) setpriority(PRIO_PROCESS, thread, nice + 5);
}

class SyscallWork : public Napi::AsyncWorker {
 public:
  SyscallWork(Napi::Env env, std::function<int64_t()> call, std::function<void()> done)
      : Napi::AsyncWorker(env, "zerocopy:syscall"),
        call_(std::move(call)),
        done_(std::move(done)),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    YieldToTheEventLoop();
    result_ = call_();
  }
  void OnOK() override {
    if (done_) done_();
    deferred_.Resolve(Napi::Number::New(Env(), static_cast<double>(result_)));
  }
  void OnError(const Napi::Error& error) override {
    if (done_) done_();
    deferred_.Reject(error.Value());
  }

 private:
  std::function<int64_t()> call_;
  std::function<void()> done_;
  Napi::Promise::Deferred deferred_;
  int64_t result_ = 0;
};

}  // namespace

Napi::Promise RunInPool(Napi::Env env, std::function<int64_t()> call) {
  return RunInPool(env, std::move(call), nullptr);
}

Napi::Promise RunInPool(Napi::Env env, std::function<int64_t()> call, std::function<void()> done) {
  auto* work = new SyscallWork(env, std::move(call), std::move(done));  // deletes itself after OnOK/OnError
  Napi::Promise promise = work->Promise();
  work->Queue();
  return promise;
}

}  // namespace zerocopy
