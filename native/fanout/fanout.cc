// fanout()'s destinations without a JavaScript call per chunk per destination: each
// destination's queue of pipes, the tee(2) that fills them from the source pipe, and the
// splice(2) that empties them into the destination, driven by one epoll set watched from the
// event loop. JavaScript reads the source into its pipe and hands each chunk down with one
// call (distribute); it decides every policy (who is admitted, who is dropped, when the
// stream ends) and hears only facts: a destination ended (its queue written out after
// finish(), or an errno), and, when it asked, that some destination wrote (progress).
//
// A destination's queue is a list of pipes sharing their pages with the source pipe. A tee
// into the tail that does not fit goes to a fresh pipe, whose head is dropped where the tail
// took a part (tee always starts at the front of the source pipe). The last taker of a chunk
// gets the pages moved instead of duplicated, which empties the source pipe; when its queue is
// empty they are spliced from the source pipe straight to it.
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "common/args.h"
#include "common/epoll_watch.h"
#include "exports.h"

namespace zerocopy {

namespace {

constexpr int kMaxEvents = 256;
// Emptied pipes a destination keeps: one that is a few chunks behind then makes no pipe2() and
// close() per chunk, and one that catches up holds at most this many idle.
constexpr size_t kSparePipes = 4;

// What the core tells JavaScript, defined here once: TypeScript reads each kind's number
// from FanoutCore.eventKinds and the record's length from FanoutCore.eventFields. Events come
// as [id, kind, bytes, syscalls, errno], in order:
//   ended: the destination wrote its whole queue after finish(); it is gone
//   failed: a splice to it (or a tee for it) met errno; it is gone, its queue dropped
//   progress: some destination wrote, after wantProgress() (id 0, once per request)
#define ZC_FANOUT_EVENT_KINDS(KIND) \
  KIND(kEnded, ended)               \
  KIND(kFailed, failed)             \
  KIND(kProgress, progress)

enum EventKind : uint32_t {
#define ZC_ENUMERATOR(constant, js_name) constant,
  ZC_FANOUT_EVENT_KINDS(ZC_ENUMERATOR)
#undef ZC_ENUMERATOR
};

constexpr uint32_t kEventFields = 5;  // id, kind, bytes, syscalls, errno

Napi::Object EventKinds(Napi::Env env) {
  Napi::Object kinds = Napi::Object::New(env);
#define ZC_PROPERTY(constant, js_name) kinds.Set(#js_name, static_cast<double>(constant));
  ZC_FANOUT_EVENT_KINDS(ZC_PROPERTY)
#undef ZC_PROPERTY
  kinds.Freeze();
  return kinds;
}

// /dev/null, opened once for the process: splicing a pipe into it drops pages unread.
int DevNull() {
  static int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  return fd;
}

struct QueuedPipe {
  int read_fd;
  int write_fd;
  size_t bytes;
};

struct Member {
  uint32_t id;
  int fd;                         // our dup of the destination
  bool pollable;                  // false for a regular file: always writable
  bool writable = true;           // until a splice takes less than offered (edge-triggered)
  bool finishing = false;         // finish(): end once the queue is written
  std::deque<QueuedPipe> pipes;   // head first
  std::vector<QueuedPipe> spares; // emptied pipes kept for the next chunks: no pipe2() per chunk
  size_t queued = 0;              // bytes in all the pipes
  double bytes = 0;               // written to the destination
  double syscalls = 0;            // tee/splice calls made for it
};

void ClosePipe(QueuedPipe& pipe) {
  if (pipe.read_fd >= 0) close(pipe.read_fd);
  if (pipe.write_fd >= 0) close(pipe.write_fd);
  pipe = {-1, -1, 0};
}

class FanoutCore : public Napi::ObjectWrap<FanoutCore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "FanoutCore",
        {InstanceMethod("add", &FanoutCore::Add), InstanceMethod("distribute", &FanoutCore::Distribute),
         InstanceMethod("queued", &FanoutCore::Queued), InstanceMethod("counts", &FanoutCore::Counts),
         InstanceMethod("finish", &FanoutCore::Finish), InstanceMethod("remove", &FanoutCore::Remove),
         InstanceMethod("wantProgress", &FanoutCore::WantProgress), InstanceMethod("close", &FanoutCore::CloseAll),
         StaticValue("eventKinds", EventKinds(env), napi_enumerable),
         StaticValue("eventFields", Napi::Number::New(env, kEventFields), napi_enumerable)});
  }

  // new FanoutCore({ pipeBytes }, onEvents(events)); pipeBytes: the source pipe's capacity,
  // which every queue pipe needs to take a whole chunk.
  explicit FanoutCore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FanoutCore>(info) {
    Napi::Env env = info.Env();
    Napi::Object options = OptionsWithCallback(info, "new FanoutCore(options, onEvents)");
    pipe_bytes_ = static_cast<int>(NumberOption(options, "pipeBytes"));
    on_events_ = Napi::Persistent(info[1].As<Napi::Function>());
    DevNull();
    watch_ = StartEpollWatch(env, this, OnEpollReadable);
    idle_ = OpenIdle(env, this);
    env_ = env;
  }

  ~FanoutCore() override { Shutdown(); }

 private:
  // add(fd, pollable) -> id | -errno. fd: a destination splice can write to without blocking
  // the loop (a non-blocking socket, a pipe, a regular file: pollable false); the core works
  // on its own dup of it.
  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (watch_.epoll_fd < 0) return NumberResult(env, -EBADF);
    int dup = fcntl(FdArg(info, 0), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return NumberResult(env, -errno);
    auto member = std::make_unique<Member>();
    member->id = next_id_++;
    member->fd = dup;
    member->pollable = info[1].ToBoolean();
    if (member->pollable) {
      struct epoll_event event = {};
      event.events = EPOLLOUT | EPOLLET;
      event.data.u64 = member->id;
      if (epoll_ctl(watch_.epoll_fd, EPOLL_CTL_ADD, dup, &event) < 0) {
        int error = errno;
        close(dup);
        return NumberResult(env, -error);
      }
    }
    uint32_t id = member->id;
    if (members_.empty()) uv_ref(reinterpret_cast<uv_handle_t*>(watch_.poll));
    members_.emplace(id, std::move(member));
    return Napi::Number::New(env, id);
  }

  // distribute(sourcePipeReadFd, count, move) -> 0 | -errno. The source pipe holds `count`
  // bytes: duplicate them into every destination's queue, and write what each can take now.
  // move: the last destination takes the pages (the source pipe is empty on return, whatever
  // failed); otherwise every one gets a duplicate and they stay in the source pipe.
  Napi::Value Distribute(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int source = FdArg(info, 0);
    size_t count = SizeArg(info, 1);
    bool move = info[2].ToBoolean();
    turn_ids_.clear();
    for (auto& [id, member] : members_) turn_ids_.push_back(id);
    int result = 0;
    for (size_t i = 0; i < turn_ids_.size(); i++) {
      Member* member = Find(turn_ids_[i]);
      if (member == nullptr) continue;
      bool last = move && i + 1 == turn_ids_.size();
      int error = last ? Take(member, source, count) : Append(member, source, count, false);
      if (error != 0) {
        Fail(member, error);
        if (last) result = DiscardAll(source, count);
        continue;
      }
      Pump(member);
    }
    if (move && turn_ids_.empty()) result = DiscardAll(source, count);
    ScheduleDispatch();
    return NumberResult(env, result);
  }

  // queued(id) -> bytes queued for it and not yet written; -1 once it is gone.
  Napi::Value Queued(const Napi::CallbackInfo& info) {
    Member* member = Find(info[0].As<Napi::Number>().Uint32Value());
    return Napi::Number::New(info.Env(), member == nullptr ? -1 : static_cast<double>(member->queued));
  }

  // counts(id) -> [bytes written, syscalls] | undefined (gone).
  Napi::Value Counts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Member* member = Find(info[0].As<Napi::Number>().Uint32Value());
    if (member == nullptr) return env.Undefined();
    Napi::Array counts = Napi::Array::New(env, 2);
    counts.Set(0u, member->bytes);
    counts.Set(1u, member->syscalls);
    return counts;
  }

  // finish(id): no more chunks for it; it ends (an `ended` event) once its queue is written.
  Napi::Value Finish(const Napi::CallbackInfo& info) {
    Member* member = Find(info[0].As<Napi::Number>().Uint32Value());
    if (member != nullptr) {
      member->finishing = true;
      if (member->queued == 0) End(member, kEnded, 0);
      ScheduleDispatch();
    }
    return info.Env().Undefined();
  }

  // remove(id) -> [bytes written, syscalls] | undefined (gone already): stops at once; what
  // was queued for it is dropped with its pipes. No event follows.
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Member* member = Find(info[0].As<Napi::Number>().Uint32Value());
    if (member == nullptr) return env.Undefined();
    Napi::Array counts = Napi::Array::New(env, 2);
    counts.Set(0u, member->bytes);
    counts.Set(1u, member->syscalls);
    Drop(member);
    return counts;
  }

  // wantProgress(): the next write to any destination (or its end) sends one `progress` event.
  Napi::Value WantProgress(const Napi::CallbackInfo& info) {
    want_progress_ = true;
    return info.Env().Undefined();
  }

  Napi::Value CloseAll(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Member* Find(uint32_t id) {
    auto found = members_.find(id);
    return found == members_.end() ? nullptr : found->second.get();
  }

  // A pipe of the source pipe's size, the member's spare if it has one.
  bool FreshPipe(Member* member, QueuedPipe* out) {
    if (!member->spares.empty()) {
      *out = member->spares.back();
      member->spares.pop_back();
      return true;
    }
    int ends[2];
    if (pipe2(ends, O_NONBLOCK | O_CLOEXEC) < 0) return false;
    fcntl(ends[1], F_SETPIPE_SZ, pipe_bytes_);  // smaller if the system allows less: a tee then fails below
    *out = {ends[0], ends[1], 0};
    return true;
  }

  // Drops the first `count` bytes of a pipe. -errno on failure.
  static int Discard(int pipe, size_t count, Member* member) {
    while (count > 0) {
      ssize_t moved = splice(pipe, nullptr, DevNull(), nullptr, count, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (member != nullptr) member->syscalls++;
      if (moved < 0 && errno == EINTR) continue;
      if (moved <= 0) return moved == 0 ? -EIO : -errno;
      count -= static_cast<size_t>(moved);
    }
    return 0;
  }

  // Empties the source pipe after the last taker could not take its chunk (it may hold fewer).
  static int DiscardAll(int source, size_t count) {
    while (count > 0) {
      ssize_t moved = splice(source, nullptr, DevNull(), nullptr, count, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (moved < 0 && errno == EINTR) continue;
      if (moved < 0 && errno == EAGAIN) return 0;
      if (moved <= 0) return moved == 0 ? 0 : -errno;
      count -= static_cast<size_t>(moved);
    }
    return 0;
  }

  // The last taker: straight from the source pipe to the destination while its queue is
  // empty and it takes them, the rest moved into its queue. Returns 0 or errno.
  int Take(Member* member, int source, size_t count) {
    if (member->queued == 0 && member->writable) {
      ssize_t sent;
      do sent = Splice(member, source, count, false);
      while (sent < 0 && errno == EINTR);
      if (sent < 0) {
        if (errno != EAGAIN) return errno;
        member->writable = !member->pollable;
      } else {
        Wrote(member, static_cast<size_t>(sent));
        count -= static_cast<size_t>(sent);
      }
      if (count == 0) return 0;
    }
    int error = Append(member, source, count, true);
    return error;
  }

  // Queues the `count` bytes the source pipe holds for `member`: moved (splice) or duplicated
  // (tee). Into the tail pipe first; what does not fit goes to a fresh pipe. Returns 0 or errno.
  int Append(Member* member, int source, size_t count, bool move) {
    size_t taken = 0;
    // A large chunk behind bytes still queued goes to a pipe of its own: teed into the tail it
    // would fit only in part, and the part that fitted would have to be dropped from the front
    // of the next pipe. Small chunks (a live source's) fill the tail first.
    bool into_tail = !member->pipes.empty() &&
                     (member->pipes.back().bytes == 0 || count < static_cast<size_t>(pipe_bytes_) / 4);
    if (into_tail) {
      QueuedPipe& tail = member->pipes.back();
      ssize_t result = Duplicate(member, source, tail.write_fd, count, move);
      if (result > 0) taken = static_cast<size_t>(result);
      else if (result == 0) return EIO;
      else if (errno != EAGAIN) return errno;
      tail.bytes += taken;
      member->queued += taken;
    }
    if (taken == count) return 0;
    QueuedPipe pipe;
    if (!FreshPipe(member, &pipe)) return errno;
    // A move already took the tail's part out of the source; a tee left it there.
    size_t wanted = move ? count - taken : count;
    ssize_t result = Duplicate(member, source, pipe.write_fd, wanted, move);
    if (result != static_cast<ssize_t>(wanted)) {
      int error = result < 0 ? errno : ENOBUFS;  // the pipe could not take a whole chunk
      ClosePipe(pipe);
      return error;
    }
    if (!move && taken > 0) {
      int error = Discard(pipe.read_fd, taken, member);
      if (error != 0) {
        ClosePipe(pipe);
        return -error;
      }
    }
    pipe.bytes = count - taken;
    member->queued += pipe.bytes;
    member->pipes.push_back(pipe);
    return 0;
  }

  // Moves (splice) or duplicates (tee) `count` bytes of the source pipe into a queue pipe.
  static ssize_t Duplicate(Member* member, int source, int pipe, size_t count, bool move) {
    ssize_t result;
    do {
      member->syscalls++;
      result = move ? splice(source, nullptr, pipe, nullptr, count, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
                    : tee(source, pipe, count, SPLICE_F_NONBLOCK);
    } while (result < 0 && errno == EINTR);
    return result;
  }

  ssize_t Splice(Member* member, int from, size_t count, bool more) {
    unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (more ? SPLICE_F_MORE : 0);
    member->syscalls++;
    return splice(from, nullptr, member->fd, nullptr, count, flags);
  }

  void Wrote(Member* member, size_t count) {
    member->bytes += static_cast<double>(count);
    if (count > 0 && want_progress_) {
      want_progress_ = false;
      Report(0, kProgress, 0, 0, 0);
    }
  }

  // Writes what the member has queued while it takes it. The member may be gone on return.
  void Pump(Member* member) {
    while (member->queued > 0 && member->writable) {
      QueuedPipe& head = member->pipes.front();
      // More is queued behind this pipe: tell TCP to fill its segments (MSG_MORE).
      bool more = head.bytes < member->queued;
      ssize_t sent = Splice(member, head.read_fd, head.bytes, more);
      if (sent < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          member->writable = !member->pollable;
          if (!member->pollable) continue;  // a file said EAGAIN: try again
          return;
        }
        Fail(member, errno);
        return;
      }
      if (sent == 0) {
        Fail(member, EPIPE);
        return;
      }
      // A short write does not say the destination is full: splice stops early, with what it
      // moved, when a signal is pending (a profiler's SIGPROF, SIGCHLD). Only EAGAIN says it
      // is full, and then epoll reports the next free space; so the loop tries again.
      size_t count = static_cast<size_t>(sent);
      head.bytes -= count;
      member->queued -= count;
      Wrote(member, count);
      if (head.bytes == 0 && member->pipes.size() > 1) {
        if (member->spares.size() < kSparePipes) member->spares.push_back(head);
        else ClosePipe(head);
        member->pipes.pop_front();
      }
    }
    if (member->queued == 0 && member->finishing) End(member, kEnded, 0);
  }

  void Report(uint32_t id, EventKind kind, double bytes, double syscalls, int error) {
    events_.insert(events_.end(), {static_cast<double>(id), static_cast<double>(kind), bytes, syscalls,
                                   static_cast<double>(error)});
  }

  void End(Member* member, EventKind kind, int error) {
    Report(member->id, kind, member->bytes, member->syscalls, error);
    if (want_progress_) {
      want_progress_ = false;
      Report(0, kProgress, 0, 0, 0);
    }
    Drop(member);
  }

  void Fail(Member* member, int error) { End(member, kFailed, error); }

  void Drop(Member* member) {
    if (member->pollable) epoll_ctl(watch_.epoll_fd, EPOLL_CTL_DEL, member->fd, nullptr);
    close(member->fd);
    // A pipe that may hold bytes is closed, never reused.
    for (QueuedPipe& pipe : member->pipes) ClosePipe(pipe);
    for (QueuedPipe& pipe : member->spares) ClosePipe(pipe);
    members_.erase(member->id);
    if (members_.empty() && watch_.poll != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(watch_.poll));
  }

  static void OnEpollReadable(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<FanoutCore*>(handle->data);
    struct epoll_event ready[kMaxEvents];
    int count = epoll_wait(self->watch_.epoll_fd, ready, kMaxEvents, 0);
    for (int i = 0; i < count; i++) {
      Member* member = self->Find(static_cast<uint32_t>(ready[i].data.u64));
      if (member == nullptr) continue;
      // An error or hang-up shows as a failed splice.
      member->writable = true;
      self->Pump(member);
    }
    self->Dispatch();
  }

  void ScheduleDispatch() {
    if (!events_.empty() && idle_ != nullptr) uv_idle_start(idle_, OnIdle);
  }

  static void OnIdle(uv_idle_t* handle) {
    uv_idle_stop(handle);
    static_cast<FanoutCore*>(handle->data)->Dispatch();
  }

  // Tells JavaScript everything since the last dispatch, never from inside one of its calls.
  void Dispatch() {
    if (events_.empty()) return;
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    Napi::Array events = Napi::Array::New(env, events_.size());
    for (size_t i = 0; i < events_.size(); i++) events.Set(static_cast<uint32_t>(i), events_[i]);
    events_.clear();
    on_events_.MakeCallback(env.Global(), {events});
  }

  void Shutdown() {
    if (watch_.epoll_fd < 0) return;
    while (!members_.empty()) Drop(members_.begin()->second.get());
    CloseEpollWatch(watch_);
    CloseIdle(idle_);
  }

  Napi::FunctionReference on_events_;
  Napi::Env env_ = nullptr;
  EpollWatch watch_;
  uv_idle_t* idle_ = nullptr;
  // Ordered by id, the order of joining: the last joined is the last taker.
  std::map<uint32_t, std::unique_ptr<Member>> members_;
  std::vector<uint32_t> turn_ids_;
  std::vector<double> events_;
  bool want_progress_ = false;
  int pipe_bytes_ = 0;
  uint32_t next_id_ = 1;
};

}  // namespace

Napi::Function DefineFanoutCore(Napi::Env env) { return FanoutCore::Define(env); }

}  // namespace zerocopy
