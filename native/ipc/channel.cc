// The Node-API glue of a channel participant. Policy (options, roles, errors, async waits)
// is TypeScript's; this file maps, hands out slot views and arms the waiter.
//
// Slot views are ordinary external ArrayBuffers over the mapping (writing into a
// SharedArrayBuffer is several times slower in Node 20), detached when the loan is
// published or the message released, so a stale Buffer reads as empty instead of
// aliasing a slot the producer is rewriting. They carry no finalizer (a weak reference
// per message costs more than the rest of a receive): at most two are live per
// participant (the loan, the held message), close() detaches them, and a participant
// collected without close() while one may be live leaves its mapping mapped rather than
// risk a view onto unmapped memory.
//
// Small messages and loans (up to open()'s copyMax) are copies instead: a view costs
// microseconds (see endpoint.ts), copying 4 KiB a fraction of one. The smallest (up to
// arenaMax) are slices of an arena: one ordinary ArrayBuffer filled front to back,
// replaced when full and never written twice. Making an ArrayBuffer costs 0.5 µs in Node
// 20, as much as the rest of a small receive; a slice costs a Buffer. A slice aliases no
// slot, so it needs no detaching: it stays its message's bytes after release. Larger
// copies get an ArrayBuffer each, detached like views: arenas filled by them would be
// fresh memory every few messages (measured: twice the page faults, 20-40% fewer 4 KiB
// messages a second), where an ArrayBuffer per message reuses what malloc just freed. A
// copied message's slot is held until release all the same, so that a consumer that dies
// holding it hands it on to the next.
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cstring>
#include <memory>

#include "common/args.h"
#include "common/views.h"
#include "exports.h"
#include "ipc/fd_passing.h"
#include "ipc/memory.h"
#include "ipc/ring.h"
#include "ipc/waiter.h"
#include "ipc/wake.h"

namespace zerocopy {

namespace {

using ipc::Want;

uint64_t NowNanoseconds() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return uint64_t(now.tv_sec) * 1000000000ull + uint64_t(now.tv_nsec);
}

class Channel : public Napi::ObjectWrap<Channel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    Napi::Function constructor = DefineClass(
        env, "Channel",
        {InstanceMethod("open", &Channel::Open), InstanceMethod("loan", &Channel::Loan),
         InstanceMethod("publish", &Channel::Publish), InstanceMethod("cancelLoan", &Channel::CancelLoan),
         InstanceMethod("send", &Channel::Send), InstanceMethod("receive", &Channel::Receive),
         InstanceMethod("receiveBatch", &Channel::ReceiveBatch),
         InstanceMethod("release", &Channel::Release), InstanceMethod("wait", &Channel::Wait),
         InstanceMethod("spin", &Channel::Spin), InstanceMethod("close", &Channel::Close),
         InstanceMethod("arena", &Channel::Arena),
         StaticMethod("create", &Channel::Create), StaticMethod("sendDescriptor", &Channel::SendDescriptor),
         StaticMethod("receiveDescriptor", &Channel::ReceiveDescriptor), StaticMethod("probe", &Channel::Probe)});
    Napi::Object limits = Napi::Object::New(env);
    limits.Set("minSlotSize", ipc::kMinSlotSize);
    limits.Set("maxSlotSize", ipc::kMaxSlotSize);
    limits.Set("minSlots", ipc::kMinSlots);
    limits.Set("maxSlots", ipc::kMaxSlots);
    limits.Set("maxSubscribers", ipc::kMaxSubscribers);
    limits.Set("maxDataBytes", static_cast<double>(ipc::kMaxDataBytes));
    limits.Freeze();
    constructor.Set("limits", limits);
    return constructor;
  }

  // new Channel(onReady: () => void)
  explicit Channel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Channel>(info) {
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "onReady must be a function");
    on_ready_ = Napi::Persistent(info[0].As<Napi::Function>());
    env_ = info.Env();
  }

  ~Channel() override { Shutdown(false); }

 private:
  // create(slotSize, slots, mode, overflow, maxSubscribers) -> fd | -errno
  static Napi::Value Create(const Napi::CallbackInfo& info) {
    return NumberResult(info.Env(), ipc::CreateChannelMemory(static_cast<uint32_t>(IntArg(info, 0)),
                                                             static_cast<uint32_t>(IntArg(info, 1)),
                                                             static_cast<uint32_t>(IntArg(info, 2)),
                                                             static_cast<uint32_t>(IntArg(info, 3)),
                                                             static_cast<uint32_t>(IntArg(info, 4))));
  }

  // probe() -> { futex, pidfd }: 0 or -errno each.
  static Napi::Value Probe(const Napi::CallbackInfo& info) {
    Napi::Object result = Napi::Object::New(info.Env());
    result.Set("futex", ipc::ProbeFutex());
    result.Set("pidfd", ipc::ProbePidfd());
    return result;
  }

  static Napi::Value SendDescriptor(const Napi::CallbackInfo& info) {
    return NumberResult(info.Env(), ipc::SendDescriptor(FdArg(info, 0), FdArg(info, 1)));
  }

  static Napi::Value ReceiveDescriptor(const Napi::CallbackInfo& info) {
    return NumberResult(info.Env(), ipc::ReceiveDescriptor(FdArg(info, 0)));
  }

  // open(fd, role: 0 producer | 1 subscriber | 2 none (only reads the geometry), state: Float64Array(6), copyMax?, arenaMax?) -> 0 | subscriber index | -errno.
  // state receives [slotSize, slots, mode, overflow] now, [sequence, missed] per receive,
  // [4] the length of a copy handed out as an arena offset, [5] the arena's generation
  // (it changes when a new arena replaces a full one: arena() returns it).
  // Messages and loans of 1..arenaMax bytes are handed out as arena offsets, up to copyMax
  // as an ArrayBuffer copy each (the consumer's at receive, the loan's copied into the
  // slot at publish); longer ones as external views of the slot.
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_) return NumberResult(env, -EISCONN);
    int fd = FdArg(info, 0);
    int role = IntArg(info, 1);
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[2].As<Napi::Float64Array>().ElementLength() < kStateLength) {
      throw Napi::TypeError::New(env, "state must be a Float64Array of 6");
    }
    ipc::Mapping mapping;
    int result = ipc::MapChannelMemory(fd, &mapping);
    if (result < 0) return NumberResult(env, result);
    mapping_ = mapping;
    copy_max_ = info.Length() > 3 && info[3].IsNumber() ? static_cast<size_t>(IntArg(info, 3)) : 0;
    arena_max_ = info.Length() > 4 && info[4].IsNumber() ? static_cast<size_t>(IntArg(info, 4)) : 0;
    if (arena_max_ > copy_max_) arena_max_ = copy_max_;
    ring_ = std::make_unique<ipc::Ring>(mapping);
    uint32_t pid = static_cast<uint32_t>(getpid());
    result = role == 0 ? ring_->AttachProducer(pid) : role == 1 ? ring_->AttachSubscriber(pid) : 0;
    if (result < 0) {
      ring_.reset();
      ipc::UnmapChannelMemory(&mapping_);
      return NumberResult(env, result);
    }
    // Its data stays put: a typed array's memory moves off the heap for good the first time
    // Node-API asks for it (here), and the reference keeps it alive.
    state_ = Napi::Persistent(info[2].As<Napi::Float64Array>());
    state_data_ = state_.Value().Data();
    state_data_[0] = mapping.slot_size;
    state_data_[1] = mapping.slot_count;
    state_data_[2] = mapping.mode;
    state_data_[3] = mapping.overflow;
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    waiter_ = std::make_unique<ipc::Waiter>(
        loop, ring_.get(), [](void* self) { static_cast<Channel*>(self)->Ready(); }, this);
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    hooked_ = true;
    return NumberResult(env, result);
  }

  Napi::Value View(Napi::Env env, uint8_t* address, size_t length) {
    napi_value buffer;
    NAPI_THROW_IF_FAILED(env, napi_create_external_arraybuffer(env, address, length, nullptr, nullptr, &buffer),
                         Napi::Value());
    return Napi::Value(env, buffer);
  }

  // Whether the arena is still the memory we made: JavaScript can transfer an ArrayBuffer
  // away (postMessage, structuredClone), after which its memory belongs to someone else.
  bool ArenaIntact() const {
    if (arena_data_ == nullptr) return false;
    void* data = nullptr;
    size_t length = 0;
    return napi_get_arraybuffer_info(env_, arena_.Value(), &data, &length) == napi_ok && data == arena_data_ &&
           length == kArenaBytes;
  }

  // The offset of `length` bytes of the arena nobody has been given yet, starting a new
  // arena when this one lacks room or was transferred away. -1 with a JavaScript exception
  // pending if no arena can be made.
  int64_t ArenaTake(size_t length) {
    if (!ArenaIntact() || arena_used_ + length > kArenaBytes) {
      void* data = nullptr;
      napi_value arena;
      if (napi_create_arraybuffer(env_, kArenaBytes, &data, &arena) != napi_ok) return -1;
      arena_ = Napi::Persistent(Napi::ArrayBuffer(env_, arena));
      arena_data_ = static_cast<uint8_t*>(data);
      arena_used_ = 0;
      state_data_[5] = double(++arena_generation_);
    }
    size_t offset = arena_used_;
    // Aligned, so that a typed array over a copy works as over a view.
    arena_used_ = (arena_used_ + length + kArenaAlignment - 1) & ~(kArenaAlignment - 1);
    return int64_t(offset);
  }

  // arena() -> the ArrayBuffer that arena offsets are offsets of.
  Napi::Value Arena(const Napi::CallbackInfo& info) {
    if (arena_data_ == nullptr) return info.Env().Undefined();
    return arena_.Value();
  }

  // What the loan's view starts at: its slot, or its scratch ArrayBuffer.
  uint8_t* LoanViewAddress() const { return loan_scratch_ != nullptr ? loan_scratch_ : ring_->LoanAddress(); }

  // loan(length) -> ArrayBuffer of `length` bytes over the next free slot | arena offset
  // (up to arenaMax) | scratch ArrayBuffer (up to copyMax) | -errno. A copy goes into the
  // slot at publish.
  Napi::Value Loan(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ring_) return NumberResult(env, -EBADF);
    size_t length = SizeArg(info, 0);
    if (length > ring_->slot_size()) return NumberResult(env, -EMSGSIZE);
    int64_t sequence = ring_->Reserve();
    if (sequence < 0) return NumberResult(env, sequence);
    loan_copy_ = nullptr;
    loan_scratch_ = nullptr;
    if (length > 0 && length <= arena_max_) {
      int64_t offset = ArenaTake(length);
      if (offset < 0) {
        ring_->CancelLoan();
        return Napi::Value();
      }
      loan_copy_ = arena_data_ + offset;
      return Napi::Number::New(env, double(offset));
    }
    if (length > 0 && length <= copy_max_) {
      void* data = nullptr;
      napi_value scratch;
      if (napi_create_arraybuffer(env, length, &data, &scratch) != napi_ok) {
        ring_->CancelLoan();
        return Napi::Value();
      }
      loan_scratch_ = static_cast<uint8_t*>(data);
      loan_scratch_length_ = length;
      return Napi::Value(env, scratch);
    }
    return View(env, ring_->LoanAddress(), length);
  }

  // Ends the loan: a copy goes into the slot first, `length` bytes of it; the loan's view
  // or scratch (`value`, if it is that) is detached. False if the copy's memory is no
  // longer ours (the caller transferred it away): then nothing is read from it.
  bool EndLoan(Napi::Env env, Napi::Value value, size_t length) {
    bool intact = true;
    if (loan_copy_ != nullptr) {
      intact = ArenaIntact();
      if (intact && length > 0) memcpy(ring_->LoanAddress(), loan_copy_, length);
    } else if (loan_scratch_ != nullptr) {
      void* data = nullptr;
      size_t attached = 0;
      intact = value.IsArrayBuffer() && napi_get_arraybuffer_info(env, value, &data, &attached) == napi_ok &&
               data == loan_scratch_ && attached == loan_scratch_length_;
      if (intact && length > 0) memcpy(ring_->LoanAddress(), loan_scratch_, length < attached ? length : attached);
    }
    DetachIfView(env, value, LoanViewAddress());
    loan_copy_ = nullptr;
    loan_scratch_ = nullptr;
    return intact;
  }

  // publish(view | undefined, length) -> 0 | -errno; detaches the loan's view.
  Napi::Value Publish(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ring_) return NumberResult(env, -EBADF);
    size_t length = SizeArg(info, 1);
    if (length > ring_->slot_size()) return NumberResult(env, -EMSGSIZE);
    if (!ring_->Loaned()) return NumberResult(env, -EINVAL);
    if (!EndLoan(env, info[0], length)) {
      ring_->CancelLoan();
      return NumberResult(env, -EINVAL);
    }
    return NumberResult(env, ring_->Publish(static_cast<uint32_t>(length)));
  }

  Napi::Value CancelLoan(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ring_) return NumberResult(env, -EBADF);
    if (ring_->Loaned()) EndLoan(env, info[0], 0);
    ring_->CancelLoan();
    return NumberResult(env, 0);
  }

  // send(bytes) -> 0 | -errno: one copy into the next free slot, no view made.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ring_) return NumberResult(env, -EBADF);
    ByteRange bytes = BytesArg(info, 0);
    if (bytes.length > ring_->slot_size()) return NumberResult(env, -EMSGSIZE);
    int64_t sequence = ring_->Reserve();
    if (sequence < 0) return NumberResult(env, sequence);
    if (bytes.length > 0) memcpy(ring_->LoanAddress(), bytes.data, bytes.length);
    return NumberResult(env, ring_->Publish(static_cast<uint32_t>(bytes.length)));
  }

  // What the held message's view starts at: its slot, or its own copy.
  uint8_t* HeldViewAddress() const { return held_copy_ != nullptr ? held_copy_ : ring_->HeldAddress(); }

  // receive(previousView?) -> ArrayBuffer over the next message (its slot, or a copy up to
  // copyMax) | arena offset of its copy (up to arenaMax, length in state[4]) | -errno.
  // Releases the previous message (detaching `previousView`), writes [sequence, missed] to
  // state.
  Napi::Value Receive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ring_) return NumberResult(env, -EBADF);
    if (ring_->Holding() && info.Length() > 0) DetachIfView(env, info[0], HeldViewAddress());
    held_copy_ = nullptr;
    ipc::Received received;
    int result = ring_->Receive(&received);
    if (result < 0 && result != -EBADMSG) return NumberResult(env, result);
    state_data_[0] = static_cast<double>(received.sequence);
    state_data_[1] = static_cast<double>(received.missed);
    if (result < 0) return NumberResult(env, result);
    if (received.length > arena_max_ && received.length <= copy_max_) {
      void* data = nullptr;
      napi_value copy;
      NAPI_THROW_IF_FAILED(env, napi_create_arraybuffer(env, received.length, &data, &copy), Napi::Value());
      memcpy(data, ring_->HeldAddress(), received.length);
      held_copy_ = static_cast<uint8_t*>(data);
      return Napi::Value(env, copy);
    }
    if (received.length > 0 && received.length <= arena_max_) {
      int64_t offset = ArenaTake(received.length);
      if (offset < 0) {
        ring_->Release();
        return Napi::Value();
      }
      memcpy(arena_data_ + offset, ring_->HeldAddress(), received.length);
      state_data_[4] = static_cast<double>(received.length);
      return Napi::Number::New(env, double(offset));
    }
    return View(env, ring_->HeldAddress(), received.length);
  }

  // receiveBatch(max, lengths: Uint32Array, previousView?) -> ArrayBuffer | -errno: up to
  // `max` ready messages in consecutive slots, one view over all of them (message i at
  // i * slotSize, lengths[i] long), held until the next receive or release. Releases the
  // previous message or batch first; writes [sequence of the first, missed, count] to state.
  Napi::Value ReceiveBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ring_) return NumberResult(env, -EBADF);
    if (ring_->Holding() && info.Length() > 2) DetachIfView(env, info[2], HeldViewAddress());
    held_copy_ = nullptr;
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      throw Napi::TypeError::New(env, "lengths must be a Uint32Array");
    }
    Napi::Uint32Array lengths = info[1].As<Napi::Uint32Array>();
    size_t max = SizeArg(info, 0);
    if (max > lengths.ElementLength()) max = lengths.ElementLength();
    if (max == 0) return NumberResult(env, -EINVAL);
    ipc::Received received;
    int result = ring_->ReceiveBatch(static_cast<uint32_t>(max), lengths.Data(), &received);
    if (result < 0 && result != -EBADMSG) return NumberResult(env, result);
    state_data_[0] = static_cast<double>(received.sequence);
    state_data_[1] = static_cast<double>(received.missed);
    state_data_[2] = static_cast<double>(received.count);
    if (result < 0) return NumberResult(env, result);
    return View(env, ring_->HeldAddress(), size_t(received.count) * ring_->slot_size());
  }

  // release(view) -> 0: detaches the view, gives the slot back.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ring_) return NumberResult(env, -EBADF);
    if (ring_->Holding()) {
      DetachIfView(env, info[0], HeldViewAddress());
      held_copy_ = nullptr;
      ring_->Release();
    }
    return NumberResult(env, 0);
  }

  // wait(want: 0 data | 1 space): onReady runs once when it holds, or a peer is gone.
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    if (!ring_) return NumberResult(info.Env(), -EBADF);
    waiter_->Arm(IntArg(info, 0) == 0 ? Want::kData : Want::kSpace);
    return NumberResult(info.Env(), 0);
  }

  // spin(want, microseconds) -> 1 ready | 0 not within the time: a bounded busy wait for
  // latency-critical workers, which then fall back to wait().
  Napi::Value Spin(const Napi::CallbackInfo& info) {
    if (!ring_) return NumberResult(info.Env(), -EBADF);
    Want want = IntArg(info, 0) == 0 ? Want::kData : Want::kSpace;
    uint64_t deadline = NowNanoseconds() + static_cast<uint64_t>(IntArg(info, 1)) * 1000;
    for (uint32_t round = 0;; round++) {
      if (ring_->Ready(want)) return NumberResult(info.Env(), 1);
      if ((round & 63) == 63 && NowNanoseconds() >= deadline) return NumberResult(info.Env(), 0);
      // The CPU's spin-wait hint; each architecture has its own (x86 PAUSE, arm64 YIELD).
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      asm volatile("yield");
#endif
    }
  }

  // close(heldView?, loanView?): detaches the views still live, leaves, unmaps.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_) {
      if (ring_->Holding() && info.Length() > 0) DetachIfView(env, info[0], HeldViewAddress());
      if (ring_->Loaned() && loan_copy_ == nullptr && info.Length() > 1) DetachIfView(env, info[1], LoanViewAddress());
      held_copy_ = nullptr;
      loan_copy_ = nullptr;
      loan_scratch_ = nullptr;
    }
    Shutdown(true);
    return env.Undefined();
  }

  // Raw Node-API: this runs from a libuv callback, where a C++ exception has no catcher.
  // A JavaScript exception goes to 'uncaughtException' as from any callback; a worker
  // being terminated just stops calling.
  void Ready() {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
    napi_value global, result;
    if (napi_get_global(env_, &global) == napi_ok &&
        napi_make_callback(env_, nullptr, global, on_ready_.Value(), 0, nullptr, &result) == napi_pending_exception) {
      napi_value error;
      if (napi_get_and_clear_last_exception(env_, &error) == napi_ok) {
        napi_valuetype type;
        if (napi_typeof(env_, error, &type) == napi_ok && type != napi_undefined) napi_fatal_exception(env_, error);
      }
    }
    napi_close_handle_scope(env_, scope);
  }

  static void CleanupHook(void* self) {
    auto* channel = static_cast<Channel*>(self);
    channel->hooked_ = false;
    channel->Shutdown(true);  // the environment's JavaScript is gone, and its views with it
  }

  // views_gone: no view of ours can be reached any more, so unmapping is safe.
  void Shutdown(bool views_gone) {
    if (!ring_) return;
    bool may_have_views = ring_->Holding() || ring_->Loaned();
    if (hooked_) {
      napi_remove_env_cleanup_hook(env_, CleanupHook, this);
      hooked_ = false;
    }
    waiter_.reset();
    ring_->CancelLoan();
    ring_->Detach();
    ring_.reset();
    state_.Reset();
    state_data_ = nullptr;
    arena_.Reset();
    arena_data_ = nullptr;
    if (views_gone || !may_have_views) ipc::UnmapChannelMemory(&mapping_);
  }

  Napi::FunctionReference on_ready_;
  Napi::Reference<Napi::Float64Array> state_;
  Napi::Env env_ = nullptr;
  ipc::Mapping mapping_;
  std::unique_ptr<ipc::Ring> ring_;
  std::unique_ptr<ipc::Waiter> waiter_;
  bool hooked_ = false;
  static constexpr size_t kStateLength = 6;
  static constexpr size_t kArenaBytes = 64 * 1024;
  static constexpr size_t kArenaAlignment = 16;  // as malloc aligns the arena itself
  double* state_data_ = nullptr;
  // Messages and loans up to this long are copies (open()'s copyMax), up to arena_max_ in
  // the arena.
  size_t copy_max_ = 0;
  size_t arena_max_ = 0;
  // The copy the held message was handed out as (over arenaMax), or nullptr.
  uint8_t* held_copy_ = nullptr;
  // The scratch ArrayBuffer a loan over arenaMax was handed out as, and its length.
  uint8_t* loan_scratch_ = nullptr;
  size_t loan_scratch_length_ = 0;
  // The arena copies are handed out from, what of it is given out, and how many arenas
  // there have been (the generation JavaScript compares to know it must ask for arena()).
  Napi::Reference<Napi::ArrayBuffer> arena_;
  uint8_t* arena_data_ = nullptr;
  size_t arena_used_ = 0;
  uint64_t arena_generation_ = 0;
  // Where in the arena the open small loan is, or nullptr.
  uint8_t* loan_copy_ = nullptr;
};

}  // namespace

Napi::Function DefineChannel(Napi::Env env) { return Channel::Define(env); }

}  // namespace zerocopy
