// The connections of the native front and their state machine. Requests are only peeked
// (MSG_PEEK) until they are answered, so a connection can be handed to node:http at any
// request boundary with every byte the client sent still in the socket: a miss, several
// ranges, If-Match, anything unusual goes to the full JavaScript path, which also fills the
// cache (see src/http/native-front.ts).
//
// One epoll set, edge-triggered, watched by one libuv poll handle; or, with the io_uring
// engine (front_uring.cc), a ring whose descriptor the poll handle watches. Each connection is a dup
// of the descriptor of a paused net.Socket that JavaScript keeps; this side never closes
// Node's descriptor, it only reports which sockets to destroy or to hand to node:http.
#pragma once

#include <napi.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <uv.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/epoll_watch.h"
#include "front/access_log.h"
#include "front/cache_store.h"
#include "front/disk_reads.h"
#include "front/http_conditions.h"
#include "front/http_request.h"
#include "front/types.h"
#include "uring/ring.h"

namespace zerocopy {

struct Connection {
  uint32_t id;
  int fd;  // our dup
  std::deque<Chunk> out;
  std::deque<LogRecord> logging;  // responses in `out`, oldest first (when the log is on)
  bool parked = false;  // waiting for JavaScript to fill the entry its next request needs
  bool input_waiting = false;  // requests left in the socket while output was pending
  bool close_when_flushed = false;
  bool hand_over_when_flushed = false;
  bool large_send_buffer = false;
  bool corked = false;  // TCP_CORK, while a large body is being sent
  bool reading_disk = false;  // a disk read for the body at the front is on the thread pool
  uint64_t last_active = 0;
  uint32_t requests = 0;  // answered here, as node:http counts them against maxRequestsPerSocket
  // The io_uring engine's requests in flight for this connection (front_uring.cc).
  bool peek_armed = false;  // a MSG_PEEK receive, completed when a request arrives
  bool send_in_flight = false;  // a sendmsg of the memory chunks at the front of `out`
  bool writable_armed = false;  // a poll for room to sendfile into
  bool hang_up_armed = false;  // a poll for a reset or a full close
  bool peer_finished = false;  // the client half-closed (io_uring: the hang-up poll is spent)
  bool starved = false;  // the ring took no more requests for it: closed at the end of the turn
  bool closing = false;  // Close() is forgetting it (not a hand-over)
  uint32_t drops_in_flight = 0;
  int64_t drop_owed = 0;  // bytes answered that the drops in flight have not yet reported gone
  size_t send_wanted = 0;
  // The sendmsg in flight reads these (and the chunks they point into) until it completes;
  // allocated at the first send on the ring (an epoll connection never has them).
  static constexpr int kSendIovecs = 64;
  struct SendVector {
    struct msghdr message = {};
    struct iovec iov[kSendIovecs];
  };
  std::unique_ptr<SendVector> send_vector;
};

// What JavaScript is to be told after a turn: what to fill, which sockets are node:http's
// now, which to destroy.
struct Fill {
  std::string key, target;
  std::optional<std::string> accept_encoding;
};
struct Outbox {
  std::vector<Fill> fills;
  std::vector<uint32_t> hand_overs, closes;
  bool empty() const { return fills.empty() && hand_overs.empty() && closes.empty(); }
};

// How connections are waited on and written to: an epoll set watched by libuv with a system
// call per read, drop and write; or an io_uring whose completions libuv's poll on the ring
// reports, with every connection's reads and writes of a turn submitted in one io_uring_enter.
// The state machine, parsing, cache, conditions, heads, timeouts and log records are the same.
enum class Engine : int32_t { kEpoll = 0, kIoUring = 1 };

class Connections {
 public:
  // `on_turn_done(owner)` is called at the end of each turn this side starts by itself
  // (readiness, a deferred turn, a finished disk read), to hand the outbox to JavaScript.
  Connections(Napi::Env env, const FrontOptions& options, void (*on_turn_done)(void*), void* owner);
  ~Connections() { Shutdown(); }

  // Watches a dup of `fd`; the connection id, or -errno.
  int64_t Adopt(int fd);
  // The answer to a fill of `key`: `entry` (null: forget the key) and whether it is a cached
  // 200; the connections waiting for it are served or handed over.
  void Complete(const std::string& key, EntryRef entry, bool answerable);
  // Closes keep-alive connections idle this long between requests, connections whose output
  // made no progress for `stalled` ms (a reader that stopped), and, with the 408 node:http
  // sends, connections that sent no request within `headers` ms.
  void Sweep(uint64_t idle, uint64_t stalled, uint64_t headers);
  // Graceful shutdown: idle connections closed, those with a request waiting handed over.
  void Drain();
  void Shutdown();
  void StartTurn();

  // Submits what a turn queued on the ring (io_uring engine; nothing to do for epoll).
  void SubmitQueued();
  Engine engine() const { return ring_ != nullptr ? Engine::kIoUring : Engine::kEpoll; }
  // Why io_uring was asked for and not used (-errno), or 0.
  int engine_error() const { return engine_error_; }
  unsigned ring_flags() const { return ring_ != nullptr ? ring_->flags() : 0; }

  uint64_t now() const { return now_; }
  size_t open() const { return connections_.size(); }
  const Stats& stats() const { return stats_; }
  CacheStore& store() { return store_; }
  const DiskReads& disk_reads() const { return disk_; }
  AccessLog& log() { return log_; }
  Outbox& outbox() { return outbox_; }

 private:
  enum class Next { kMore, kPark, kHandOver, kClose };

  Connection* Find(uint32_t id);
  void Serve(Connection* c);
  void Park(Connection* c);
  bool BuildKey(const PlainRequest& request);
  bool WithinLimits(const Connection& c, const char* head, const PlainRequest& request) const;
  void Respond(Connection* c, const EntryRef& entry, const PlainRequest& request, const Answer& answer);
  void Refuse(Connection* c, const PlainRequest& request);
  bool AnswerPeeked(Connection* c, const char* data, size_t size, size_t capacity);
  bool Flush(Connection* c);
  void Advance(Connection* c, size_t sent);
  bool Blocked(Connection* c);
  bool WaitWritable(Connection* c);
  void Defer(uint32_t id, uint32_t events);
  void Handle(const std::vector<std::pair<uint32_t, uint32_t>>& events);
  void OnEvent(Connection* c, uint32_t events);
  void HandOverWhenFlushed(Connection* c);
  void HandOver(Connection* c);
  void Close(Connection* c, bool graceful, const char* error = "ECONNRESET");
  void Forget(Connection* c);
  void FinishDrain(Connection* c);
  bool ReadAhead(Connection* c, const Chunk& chunk);
  bool PeerGone(Connection* c);
  void OnDiskRead(const DiskRead& read);
  void SetCork(Connection* c, bool on);
  void RefreshDate();

  // The io_uring engine (front_uring.cc).
  int OpenRing(Napi::Env env);
  void CloseRing();
  struct io_uring_sqe* Sqe();
  void Starve(Connection* c);
  void CloseStarved();
  bool HandleStashed();
  void ArmPeek(Connection* c, bool poll_first);
  void ArmWritable(Connection* c);
  void ArmHangUp(Connection* c);
  void QueueDrop(Connection* c, size_t bytes);
  void QueueSend(Connection* c);
  bool Cancel(uint32_t id, uint8_t kind);
  void ForgetRinged(Connection* c);
  void OnCompletion(const struct io_uring_cqe& cqe);
  void OnPeeked(Connection* c, const struct io_uring_cqe& cqe);
  void OnSent(Connection* c, int result);
  static void OnRingReadable(uv_poll_t* handle, int status, int events);

  static void OnEpollReadable(uv_poll_t* handle, int status, int events);
  static void OnIdle(uv_idle_t* handle);
  static void OnDiskReadDone(void* self, const DiskRead& read);

  void (*on_turn_done_)(void*);
  void* owner_;
  EpollWatch watch_;  // with io_uring: the poll handle is on the ring, and epoll_fd is -1
  std::unique_ptr<Ring> ring_;
  int engine_error_ = 0;
  // Connections gone while a send of theirs is in flight: kept (their chunks are being read)
  // until its completion arrives.
  std::unordered_map<uint32_t, std::unique_ptr<Connection>> leaving_;
  // Completions reaped by Sqe() to make room, handled before any reaped later; and the
  // connections it could queue nothing for.
  std::vector<struct io_uring_cqe> stashed_;
  std::vector<uint32_t> starved_;
  uv_loop_t* loop_ = nullptr;
  uint64_t last_serial_ = 0;
  uv_idle_t* idle_ = nullptr;
  std::vector<std::pair<uint32_t, uint32_t>> deferred_, events_;  // (connection id, epoll events)
  TurnBudget turn_;
  uint32_t next_id_ = 1;
  std::unordered_map<uint32_t, std::unique_ptr<Connection>> connections_;
  CacheStore store_;
  DiskReads disk_;
  AccessLog log_;
  Outbox outbox_;
  std::unordered_map<std::string, std::vector<uint32_t>> waiting_;
  std::unordered_set<std::string> filling_;
  std::vector<char> peek_;
  // Serve()'s answers to one read, given only once all of it is answerable (kept to reuse the capacity).
  struct PendingAnswer {
    EntryRef entry;
    PlainRequest request;
    Answer answer;
  };
  std::vector<PendingAnswer> answers_;
  std::string key_, date_line_, keep_alive_line_;
  time_t date_second_ = -1;
  uint64_t now_ = 0;
  size_t max_head_, max_header_fields_;
  bool hand_over_with_origin_;
  uint32_t max_requests_;
  bool vary_, draining_ = false;
  Stats stats_;
};

}  // namespace zerocopy
