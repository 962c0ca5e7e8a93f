// pipeSockets() (src/proxy/pipe-sockets.ts) without a JavaScript call per message: both
// sockets of a pair watched in one epoll set, each direction moved by recv()/send() through
// a buffer while it carries small exchanges, and by splice() through a pipe of its own once
// its reads keep coming large, the way HAProxy's splice-auto does. JavaScript keeps the
// net.Sockets (paused, not reading) and hears which direction saw its FIN (it passes the FIN
// on with socket.end(), so Node knows the socket is half-closed), which pair failed and why,
// and the byte counts (per turn only when it listens for progress; counts() otherwise).
//
// A direction reads only when its buffer (or pipe) is empty, so when it reports its FIN
// every byte it read has been sent.
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/args.h"
#include "common/epoll_watch.h"
#include "exports.h"

namespace zerocopy {

namespace {

constexpr int kMaxEvents = 256;
// One recv() takes at most this much, as Node reads 64 KiB at a time.
constexpr size_t kBufferBytes = 64 * 1024;
// Reads per direction before the other pairs get a turn; more continue on the next turn.
constexpr int kReadsPerPump = 16;
// A direction that keeps reading large is spliced through a pipe of this size (HAProxy's
// tune.pipesize; the default 64 KiB pipe costs four times the calls).
constexpr int kPipeBytes = 1 << 20;

// What the relay tells JavaScript, defined here once: TypeScript reads each kind's number from
// Relay.eventKinds ({ moved: 0, ... }) and the record's length from Relay.eventFields. Events
// come as [pairId, kind, a, b, ...], in order:
//   moved: a, b = bytes delivered so far a -> b and b -> a (each turn that moved bytes when
//          the pair asked for it, otherwise only before its last event)
//   spliced: a, b = of those, the bytes moved by splice (after every `moved` once a direction
//            splices)
//   ended: direction a (0: a -> b) read its FIN with every byte sent: pass the FIN on
//   switched: direction a keeps reading >= largeReadBytes and no pipe could be had to splice
//             it here: splice it from JavaScript (transfer()) from now on
//   failedRecv, failedSend: direction a met errno b in recv() or send() (a splice from or to
//                           its socket counts as either); the pair is gone
// Every ended, switched and failed* comes after a `moved` with the pair's final counts.
#define ZC_RELAY_EVENT_KINDS(KIND) \
  KIND(kMoved, moved)              \
  KIND(kSpliced, spliced)          \
  KIND(kEnded, ended)              \
  KIND(kSwitched, switched)        \
  KIND(kFailedRecv, failedRecv)    \
  KIND(kFailedSend, failedSend)

enum EventKind : uint32_t {
#define ZC_ENUMERATOR(constant, js_name) constant,
  ZC_RELAY_EVENT_KINDS(ZC_ENUMERATOR)
#undef ZC_ENUMERATOR
};

constexpr uint32_t kEventFields = 4;  // pairId, kind, a, b

Napi::Object EventKinds(Napi::Env env) {
  Napi::Object kinds = Napi::Object::New(env);
#define ZC_PROPERTY(constant, js_name) kinds.Set(#js_name, static_cast<double>(constant));
  ZC_RELAY_EVENT_KINDS(ZC_PROPERTY)
#undef ZC_PROPERTY
  kinds.Freeze();
  return kinds;
}

struct Direction {
  enum State : uint8_t { kCopying, kEnded, kSwitched };
  State state = kCopying;
  std::unique_ptr<char[]> buffer;  // allocated at the first read
  size_t start = 0, end = 0;       // bytes read and not yet sent
  double bytes = 0;                // delivered to the other socket
  int large_reads = 0;             // in a row
  bool readable = true;            // until the socket is drained (edge-triggered)
  bool closing = false;            // the peer closed or failed: read on until recv() says so
  bool writable = true;            // until send() takes less than offered
  // Spliced from the socket into a pipe and from the pipe into the other socket, once the
  // reads keep coming large: the bytes never enter this process.
  int pipe_read = -1, pipe_write = -1;
  size_t in_pipe = 0;
  double spliced = 0;              // of `bytes`
  bool splicing() const { return pipe_read >= 0; }
  // Bytes read and not yet sent, in the buffer or the pipe.
  size_t held() const { return splicing() ? in_pipe : end - start; }
  // The other socket took `count` of them.
  void Sent(size_t count) {
    bytes += static_cast<double>(count);
    if (splicing()) {
      in_pipe -= count;
      spliced += static_cast<double>(count);
      return;
    }
    start += count;
    if (start == end) start = end = 0;
  }
};

struct Pair {
  uint32_t id;
  int fd[2];            // our dups of the two sockets
  Direction way[2];     // way[s]: from fd[s] to fd[1 - s]
  int switch_after;     // large reads in a row that hand a direction to splice; 0: never
  bool report_moves;    // a kMoved per turn that moved bytes, not only before the last event
  bool moved = false;   // bytes moved since the last report
  int64_t last_active_ns;
};

class Relay : public Napi::ObjectWrap<Relay> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Relay",
                       {InstanceMethod("add", &Relay::Add), InstanceMethod("remove", &Relay::Remove),
                        InstanceMethod("counts", &Relay::Counts), InstanceMethod("close", &Relay::CloseAll),
                        StaticValue("eventKinds", EventKinds(env), napi_enumerable),
                        StaticValue("eventFields", Napi::Number::New(env, kEventFields), napi_enumerable)});
  }

  // new Relay({ turnSliceMs, largeReadBytes }, onEvents(events)); the events are described
  // at ZC_RELAY_EVENT_KINDS.
  explicit Relay(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Relay>(info) {
    Napi::Env env = info.Env();
    Napi::Object options = OptionsWithCallback(info, "new Relay(options, onEvents)");
    turn_.slice_ns = static_cast<int64_t>(NumberOption(options, "turnSliceMs") * 1e6);
    large_read_ = static_cast<size_t>(NumberOption(options, "largeReadBytes"));
    on_events_ = Napi::Persistent(info[1].As<Napi::Function>());
    watch_ = StartEpollWatch(env, this, OnEpollReadable);
    idle_ = OpenIdle(env, this);
    env_ = env;
  }

  ~Relay() override { Shutdown(); }

 private:
  // add(fdA, fdB, spliceAfterLargeReads, firstAToB: Buffer | null, firstBToA: Buffer | null,
  //     reportMoves: boolean) -> pair id | -errno. spliceAfterLargeReads 0: copy to the end,
  // whatever the sizes. Without reportMoves, JavaScript hears nothing per message; counts()
  // tells it what moved when it asks. Both sockets connected, Node not reading them and with nothing
  // queued to write; first*: what Node had read already, sent before anything else.
  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (watch_.epoll_fd < 0) return NumberResult(env, -EBADF);
    auto pair = std::make_unique<Pair>();
    pair->id = next_id_++;
    pair->fd[0] = pair->fd[1] = -1;
    pair->switch_after = info[2].As<Napi::Number>().Int32Value();
    pair->report_moves = info[5].ToBoolean();
    pair->last_active_ns = MonotonicNs();
    for (int side = 0; side < 2; side++) {
      int dup = fcntl(FdArg(info, side), F_DUPFD_CLOEXEC, 0);
      struct epoll_event event = {};
      event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      event.data.u64 = (static_cast<uint64_t>(pair->id) << 1) | static_cast<uint64_t>(side);
      if (dup < 0 || epoll_ctl(watch_.epoll_fd, EPOLL_CTL_ADD, dup, &event) < 0) {
        int error = errno;
        if (dup >= 0) close(dup);
        Forget(*pair);
        return NumberResult(env, -error);
      }
      pair->fd[side] = dup;
      Napi::Value first = info[3 + side];
      if (first.IsBuffer()) {
        auto bytes = first.As<Napi::Buffer<char>>();
        Direction& way = pair->way[side];
        way.buffer.reset(new char[std::max(kBufferBytes, bytes.Length())]);
        std::copy(bytes.Data(), bytes.Data() + bytes.Length(), way.buffer.get());
        way.end = bytes.Length();
      }
    }
    uint32_t id = pair->id;
    if (pairs_.empty()) uv_ref(reinterpret_cast<uv_handle_t*>(watch_.poll));
    pairs_.emplace(id, std::move(pair));
    // Bytes already waiting are reported by epoll at once: an edge-triggered add starts ready.
    return Napi::Number::New(env, id);
  }

  // remove(id): stop watching the pair and close our dups (JavaScript destroys its sockets).
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    auto found = pairs_.find(info[0].As<Napi::Number>().Uint32Value());
    if (found != pairs_.end()) Drop(found->second.get());
    return info.Env().Undefined();
  }

  // counts(id) -> { aToB, bToA, quietMs, splicedAToB, splicedBToA } | undefined (gone):
  // bytes delivered each way, ms since bytes last moved, and of those bytes the spliced ones.
  // Named, not positional: it is asked for now and then, not per event.
  Napi::Value Counts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Pair* pair = Find(info[0].As<Napi::Number>().Uint32Value());
    if (pair == nullptr) return env.Undefined();
    Napi::Object counts = Napi::Object::New(env);
    counts.Set("aToB", pair->way[0].bytes);
    counts.Set("bToA", pair->way[1].bytes);
    counts.Set("quietMs", static_cast<double>(MonotonicNs() - pair->last_active_ns) / 1e6);
    counts.Set("splicedAToB", pair->way[0].spliced);
    counts.Set("splicedBToA", pair->way[1].spliced);
    return counts;
  }

  Napi::Value CloseAll(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Pair* Find(uint32_t id) {
    auto found = pairs_.find(id);
    return found == pairs_.end() ? nullptr : found->second.get();
  }

  void Forget(Pair& pair) {
    for (int fd : pair.fd) {
      if (fd < 0) continue;
      epoll_ctl(watch_.epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
      close(fd);
    }
    pair.fd[0] = pair.fd[1] = -1;
    // A pipe is never reused: one that held bytes when a side failed would hand them to
    // the next connection.
    for (Direction& way : pair.way) {
      if (!way.splicing()) continue;
      close(way.pipe_read);
      close(way.pipe_write);
      way.pipe_read = way.pipe_write = -1;
    }
  }

  void Drop(Pair* pair) {
    Forget(*pair);
    pairs_.erase(pair->id);
    if (pairs_.empty() && watch_.poll != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(watch_.poll));
  }

  void Report(Pair* pair, EventKind kind, uint32_t a, double b) {
    if (kind != kMoved) ReportMoved(pair);
    events_.insert(events_.end(), {static_cast<double>(pair->id), static_cast<double>(kind), static_cast<double>(a), b});
  }

  void Moved(Pair* pair) {
    pair->last_active_ns = turn_.start_ns;
    if (pair->moved) return;
    pair->moved = true;
    if (pair->report_moves) moved_.push_back(pair->id);
  }

  void ReportMoved(Pair* pair) {
    if (!pair->moved) return;
    pair->moved = false;
    double id = static_cast<double>(pair->id);
    events_.insert(events_.end(), {id, static_cast<double>(kMoved), pair->way[0].bytes, pair->way[1].bytes});
    if (pair->way[0].spliced > 0 || pair->way[1].spliced > 0) {
      events_.insert(events_.end(), {id, static_cast<double>(kSpliced), pair->way[0].spliced, pair->way[1].spliced});
    }
  }

  // What a failed recv/send/splice means: try again (EINTR); wait for the next edge (EAGAIN:
  // `ready` is cleared); or the pair failed, and is gone.
  enum class AfterFailure { kRetry, kWait, kGone };
  AfterFailure Failed(Pair* pair, int side, bool sending, bool* ready) {
    if (errno == EINTR) return AfterFailure::kRetry;
    if (errno == EAGAIN) {
      *ready = false;
      return AfterFailure::kWait;
    }
    Fail(pair, side, sending, errno);
    return AfterFailure::kGone;
  }

  // The direction read its FIN: every byte before it has been sent.
  void Ended(Pair* pair, int side) {
    pair->way[side].state = Direction::kEnded;
    Report(pair, kEnded, static_cast<uint32_t>(side), 0);
  }

  // From now on the direction moves by splice, through a pipe of its own. False when no
  // pipe can be had (descriptors ran out): JavaScript's transfer() takes the direction then.
  static bool StartSplicing(Direction& way) {
    int ends[2];
    if (pipe2(ends, O_NONBLOCK | O_CLOEXEC) < 0) return false;
    fcntl(ends[1], F_SETPIPE_SZ, kPipeBytes);  // smaller if the system allows less
    way.pipe_read = ends[0];
    way.pipe_write = ends[1];
    return true;
  }

  void Fail(Pair* pair, int side, bool sending, int error) {
    Report(pair, sending ? kFailedSend : kFailedRecv, static_cast<uint32_t>(side), error);
    Drop(pair);
  }

  // Sends what the direction holds: from its buffer, or from its pipe once it splices.
  static ssize_t SendHeld(Direction& way, int to) {
    if (way.splicing()) return splice(way.pipe_read, nullptr, to, nullptr, way.in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    return send(to, way.buffer.get() + way.start, way.end - way.start, MSG_NOSIGNAL | MSG_DONTWAIT);
  }

  // One read into the direction's buffer, or into its pipe once it splices.
  ssize_t Receive(Direction& way, int from) {
    if (way.splicing()) {
      ssize_t got = splice(from, nullptr, way.pipe_write, nullptr, kPipeBytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (got > 0) way.in_pipe = static_cast<size_t>(got);
      return got;
    }
    if (!way.buffer) way.buffer.reset(new char[kBufferBytes]);
    ssize_t got = recv(from, way.buffer.get(), kBufferBytes, MSG_DONTWAIT);
    if (got <= 0) return got;
    way.end = static_cast<size_t>(got);
    // A read that did not fill the buffer drained the socket: the next bytes bring a new
    // edge, so no recv() is spent on learning EAGAIN (unless the peer's FIN or error is
    // still to be read, whose edge has been reported already).
    if (way.end < kBufferBytes && !way.closing) way.readable = false;
    way.large_reads = static_cast<size_t>(got) >= large_read_ ? way.large_reads + 1 : 0;
    return got;
  }

  // Moves what it can from fd[side] to the other socket. Returns false when the pair is
  // gone; sets `more` when it stopped with bytes still to read (the turn's share is used).
  bool Pump(Pair* pair, int side, bool* more) {
    Direction& way = pair->way[side];
    int from = pair->fd[side];
    int to = pair->fd[1 - side];
    for (int reads = 0; way.state == Direction::kCopying;) {
      if (way.held() > 0) {
        if (!way.writable) return true;
        ssize_t sent = SendHeld(way, to);
        if (sent < 0) {
          AfterFailure next = Failed(pair, side, true, &way.writable);
          if (next == AfterFailure::kRetry) continue;
          return next == AfterFailure::kWait;
        }
        way.Sent(static_cast<size_t>(sent));
        Moved(pair);
        if (way.held() > 0) {
          // A short write: the socket's buffer is full, and epoll reports the next free space.
          way.writable = false;
          return true;
        }
        if (!way.splicing() && pair->switch_after > 0 && way.large_reads >= pair->switch_after &&
            !StartSplicing(way)) {
          way.state = Direction::kSwitched;
          Report(pair, kSwitched, static_cast<uint32_t>(side), 0);
          return true;
        }
        continue;
      }
      if (!way.readable) return true;
      if (reads++ == kReadsPerPump) {
        *more = true;
        return true;
      }
      ssize_t got = Receive(way, from);
      if (got < 0) {
        AfterFailure next = Failed(pair, side, false, &way.readable);
        if (next == AfterFailure::kRetry) continue;
        return next == AfterFailure::kWait;
      }
      if (got == 0) {
        Ended(pair, side);
        return true;
      }
    }
    return true;
  }

  // Both ways, as far as the turn allows; a pair whose directions are all done is let go.
  void Serve(Pair* pair) {
    bool more = false;
    for (int side = 0; side < 2; side++) {
      if (!Pump(pair, side, &more)) return;
    }
    if (pair->way[0].state != Direction::kCopying && pair->way[1].state != Direction::kCopying) {
      ReportMoved(pair);
      Drop(pair);
      return;
    }
    if (more) Defer(pair->id);
  }

  static void Ready(Pair* pair, int side, uint32_t events) {
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) pair->way[side].readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) pair->way[side].closing = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) pair->way[1 - side].writable = true;
  }

  void OnEvent(Pair* pair, int side, uint32_t events) {
    // An error or hang-up shows as a failed recv()/send(): let both try.
    Ready(pair, side, events);
    Serve(pair);
  }

  void Defer(uint32_t id) {
    if (deferred_.insert(id).second) uv_idle_start(idle_, OnIdle);
  }

  static void OnIdle(uv_idle_t* handle) {
    auto* self = static_cast<Relay*>(handle->data);
    std::unordered_set<uint32_t> ids;
    ids.swap(self->deferred_);
    self->turn_.Start();
    for (uint32_t id : ids) {
      Pair* pair = self->Find(id);
      if (pair == nullptr) continue;
      if (self->turn_.Spent()) {
        self->Defer(id);
        continue;
      }
      self->Serve(pair);
    }
    if (self->deferred_.empty()) uv_idle_stop(handle);
    self->Dispatch();
  }

  static void OnEpollReadable(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<Relay*>(handle->data);
    struct epoll_event ready[kMaxEvents];
    int count = epoll_wait(self->watch_.epoll_fd, ready, kMaxEvents, 0);
    if (count <= 0) return;
    self->turn_.Start();
    for (int i = 0; i < count; i++) {
      uint64_t data = ready[i].data.u64;
      Pair* pair = self->Find(static_cast<uint32_t>(data >> 1));
      if (pair == nullptr) continue;
      int side = static_cast<int>(data & 1);
      if (self->turn_.Spent()) {
        // Out of time: remember the readiness, serve the pair next turn.
        Ready(pair, side, ready[i].events);
        self->Defer(pair->id);
        continue;
      }
      self->OnEvent(pair, side, ready[i].events);
    }
    self->Dispatch();
  }

  // Counts for the pairs that moved bytes, then tells JavaScript everything of this turn.
  void Dispatch() {
    for (uint32_t id : moved_) {
      Pair* pair = Find(id);
      if (pair != nullptr) ReportMoved(pair);
    }
    moved_.clear();
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
    for (auto& [id, pair] : pairs_) Forget(*pair);
    pairs_.clear();
    CloseEpollWatch(watch_);
    CloseIdle(idle_);
  }

  Napi::FunctionReference on_events_;
  Napi::Env env_ = nullptr;
  EpollWatch watch_;
  uv_idle_t* idle_ = nullptr;
  std::unordered_map<uint32_t, std::unique_ptr<Pair>> pairs_;
  std::unordered_set<uint32_t> deferred_;
  std::vector<double> events_;
  std::vector<uint32_t> moved_;  // pairs whose counts changed this turn
  TurnBudget turn_;
  size_t large_read_ = 0;  // from the largeReadBytes option
  uint32_t next_id_ = 1;
};

}  // namespace

Napi::Function DefineRelay(Napi::Env env) { return Relay::Define(env); }

}  // namespace zerocopy
