#include "pool.h"

namespace zerocopy {

namespace {

class SyscallWork : public Napi::AsyncWorker {
 public:
  SyscallWork(Napi::Env env, std::function<int64_t()> call)
      : Napi::AsyncWorker(env, "zerocopy:syscall"), call_(std::move(call)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override { result_ = call_(); }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), static_cast<double>(result_))); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  std::function<int64_t()> call_;
  Napi::Promise::Deferred deferred_;
  int64_t result_ = 0;
};

}  // namespace

Napi::Promise RunInPool(Napi::Env env, std::function<int64_t()> call) {
  auto* work = new SyscallWork(env, std::move(call));  // deletes itself after OnOK/OnError
  Napi::Promise promise = work->Promise();
  work->Queue();
  return promise;
}

}  // namespace zerocopy
