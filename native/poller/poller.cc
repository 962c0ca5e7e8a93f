// Readiness for descriptors libuv already watches. libuv allows one poll handle per
// descriptor (and Node's own socket handle is that one), so we keep a private epoll set:
// the descriptors we wait on (our own dups) live in it, and a single uv_poll_t watches
// the epoll descriptor itself. Every registration is one-shot; TypeScript re-arms it.
#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

#include "common/args.h"
#include "common/epoll_watch.h"
#include "exports.h"

namespace zerocopy {

namespace {

// Each readiness comes to JavaScript as [token, epollEvents]; TypeScript reads the record's
// length from Poller.eventFields.
constexpr uint32_t kEventFields = 2;

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Poller",
                       {InstanceMethod("arm", &Poller::Arm), InstanceMethod("disarm", &Poller::Disarm),
                        InstanceMethod("close", &Poller::Close),
                        StaticValue("eventFields", Napi::Number::New(env, kEventFields), napi_enumerable)});
  }

  // new Poller(onReady: (events: number[]) => void), where events is a flat list of
  // records of kEventFields: [token, epollEvents, token, epollEvents, ...].
  explicit Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "onReady must be a function");
    on_ready_ = Napi::Persistent(info[0].As<Napi::Function>());
    watch_ = OpenEpollWatch(env, this);
    env_ = env;
  }

  ~Poller() override { Shutdown(); }

 private:
  // arm(fd, events, token, add) -> 0 | -errno. `add` is 1 for a descriptor not yet in the
  // set, 0 to re-arm one that is.
  Napi::Value Arm(const Napi::CallbackInfo& info) {
    if (watch_.epoll_fd < 0) return NumberResult(info.Env(), -EBADF);
    int fd = FdArg(info, 0);
    struct epoll_event event = {};
    event.events = static_cast<uint32_t>(IntArg(info, 1)) | EPOLLONESHOT;
    event.data.u64 = static_cast<uint64_t>(Int64Arg(info, 2));
    int op = IntArg(info, 3) ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(watch_.epoll_fd, op, fd, &event) < 0) return NumberResult(info.Env(), -errno);
    // The poll handle stays started (stopping and restarting it costs libuv three epoll_ctl
    // calls per wait); it only keeps the process alive while something waits.
    if (!started_) {
      uv_poll_start(watch_.poll, UV_READABLE, OnEpollReadable);
      started_ = true;
    }
    if (armed_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(watch_.poll));
    return NumberResult(info.Env(), 0);
  }

  // disarm(fd, wasArmed) -> 0 | -errno: removes the descriptor from the set.
  Napi::Value Disarm(const Napi::CallbackInfo& info) {
    if (watch_.epoll_fd < 0) return NumberResult(info.Env(), -EBADF);
    int fd = FdArg(info, 0);
    bool was_armed = IntArg(info, 1) != 0;
    int result = epoll_ctl(watch_.epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    int error = result < 0 ? errno : 0;
    if (was_armed) Release();
    return NumberResult(info.Env(), -error);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  void Release() {
    if (armed_ > 0 && --armed_ == 0) uv_unref(reinterpret_cast<uv_handle_t*>(watch_.poll));
  }

  void Shutdown() {
    if (watch_.epoll_fd < 0) return;
    CloseEpollWatch(watch_);
  }

  static void OnEpollReadable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<Poller*>(handle->data);
    struct epoll_event ready[64];
    int count = epoll_wait(self->watch_.epoll_fd, ready, 64, 0);
    if (count <= 0) return;
    Napi::Env env = self->env_;
    Napi::HandleScope scope(env);
    Napi::Array list = Napi::Array::New(env, count * kEventFields);
    for (uint32_t i = 0; i < static_cast<uint32_t>(count); i++) {
      list.Set(i * kEventFields, Napi::Number::New(env, static_cast<double>(ready[i].data.u64)));
      list.Set(i * kEventFields + 1, Napi::Number::New(env, ready[i].events));
      self->Release();  // one-shot: delivered means disarmed
    }
    // MakeCallback runs microtasks and reports exceptions like any libuv callback in Node.
    self->on_ready_.MakeCallback(env.Global(), {list});
  }

  Napi::FunctionReference on_ready_;
  Napi::Env env_ = nullptr;
  EpollWatch watch_;
  int armed_ = 0;
  bool started_ = false;
};

}  // namespace

Napi::Function DefinePoller(Napi::Env env) { return Poller::Define(env); }

}  // namespace zerocopy
