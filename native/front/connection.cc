#include "front/connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace zerocopy {

namespace {

constexpr int kMaxEvents = 256;
constexpr int kMaxIovecs = 64;
// One sendfile call moves at most this much (what an 8 MiB send buffer takes at once)...
constexpr size_t kSendfileChunk = 8 << 20;
// ...and no more than the turn's budget (TurnBudget) is spent per turn of the event loop.
// Bodies from this size on get a larger send buffer (see Respond()).
constexpr size_t kLargeBody = 8 << 20;
// Bodies from this size on are sent under TCP_CORK (nginx: tcp_nopush). sendfile hands TCP
// the file 16 pages at a time and pushes at the end of each batch; with TCP_NODELAY a batch
// that does not fill its last segment sends a short one. To a reader that keeps up on
// loopback that was a third to a half more packets, and more work per byte on both sides.
constexpr size_t kCorkedBody = 256 << 10;

}  // namespace

Connections::Connections(Napi::Env env, const FrontOptions& options, void (*on_turn_done)(void*), void* owner)
    : on_turn_done_(on_turn_done),
      owner_(owner),
      store_(options.max_entries, options.max_bytes, options.sendfile_min),
      disk_(OnDiskReadDone, this, options.disk_reads_in_flight),
      log_(options.log_level),
      max_head_(options.max_head),
      max_header_fields_(options.max_header_fields),
      hand_over_with_origin_(options.hand_over_with_origin),
      max_requests_(options.max_requests_per_socket),
      vary_(options.vary) {
  // node:http's words, for the same limits.
  int64_t keep_alive_s = options.keep_alive_timeout_ms / 1000;
  keep_alive_line_ = "Connection: keep-alive\r\nKeep-Alive: timeout=" + std::to_string(keep_alive_s);
  if (max_requests_ > 0) keep_alive_line_ += ", max=" + std::to_string(max_requests_);
  keep_alive_line_ += "\r\n\r\n";
  turn_.slice_ns = options.turn_slice_ns;
  peek_.resize(max_head_ + 1);
  napi_get_uv_event_loop(env, &loop_);
  if (options.engine == static_cast<int>(Engine::kIoUring)) engine_error_ = OpenRing(env);
  if (ring_ == nullptr) watch_ = StartEpollWatch(env, this, OnEpollReadable);
  idle_ = OpenIdle(env, this);
}

int64_t Connections::Adopt(int fd) {
  if (watch_.poll == nullptr) return -EBADF;
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return -errno;
  uint32_t id = next_id_++;
  if (ring_ != nullptr) {
    auto connection = std::make_unique<Connection>();
    connection->id = id;
    connection->fd = dup;
    connection->last_active = MonotonicMs();
    if (connections_.empty()) uv_ref(reinterpret_cast<uv_handle_t*>(watch_.poll));
    Connection* c = connection.get();
    connections_.emplace(id, std::move(connection));
    stats_.adopted++;
    // Bytes already waiting complete the peek at once.
    ArmPeek(c, false);
    ArmHangUp(c);
    SubmitQueued();
    return id;
  }
  struct epoll_event event = {};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = id;
  if (epoll_ctl(watch_.epoll_fd, EPOLL_CTL_ADD, dup, &event) < 0) {
    int error = errno;
    close(dup);
    return -error;
  }
  auto connection = std::make_unique<Connection>();
  connection->id = id;
  connection->fd = dup;
  connection->last_active = MonotonicMs();
  if (connections_.empty()) uv_ref(reinterpret_cast<uv_handle_t*>(watch_.poll));
  connections_.emplace(id, std::move(connection));
  stats_.adopted++;
  // Bytes already waiting are reported by epoll at once: an edge-triggered add starts ready.
  return id;
}

void Connections::Complete(const std::string& key, EntryRef entry, bool answerable) {
  filling_.erase(key);
  bool stored = false;
  if (entry != nullptr) {
    // A file body we could not keep a descriptor for is not stored.
    if (!entry->on_disk || entry->body_fd >= 0) stored = store_.Store(key, std::move(entry), now_);
  } else {
    store_.Erase(key);
  }
  // Waiters are served from the table only when the answer is there to stay; otherwise they
  // would ask again at once.
  bool serve_waiters = answerable && stored;
  auto waiting = waiting_.find(key);
  if (waiting == waiting_.end()) return;
  std::vector<uint32_t> ids = std::move(waiting->second);
  waiting_.erase(waiting);
  for (uint32_t id : ids) {
    Connection* c = Find(id);
    if (c == nullptr || !c->parked) continue;
    c->parked = false;
    if (serve_waiters) {
      Serve(c);
    } else {
      stats_.hand_overs_uncached++;
      HandOverWhenFlushed(c);
    }
  }
}

void Connections::Sweep(uint64_t idle, uint64_t stalled, uint64_t headers) {
  StartTurn();
  // node:http gives a connection that has not sent a whole request head its header timeout
  // (or its socket timeout, if shorter), and keeps the keep-alive timeout for between requests.
  std::vector<std::pair<uint32_t, bool>> expired;  // (id, header timeout)
  for (auto& [id, c] : connections_) {
    if (c->parked) continue;
    uint64_t quiet = now_ - c->last_active;
    if (!c->out.empty()) {
      if (quiet >= stalled) expired.emplace_back(id, false);
    } else if (c->requests == 0) {
      if (quiet >= headers || quiet >= stalled) expired.emplace_back(id, headers < stalled && quiet >= headers);
    } else if (quiet >= idle) {
      expired.emplace_back(id, false);
    }
  }
  for (auto [id, header_timeout] : expired) {
    Connection* c = Find(id);
    if (header_timeout) {
      // What node:http sends when its header timeout ends a connection (its socket timeout,
      // when that comes first, closes without a word).
      stats_.closed_header_timeout++;
      static const char kRequestTimeout[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";
      send(c->fd, kRequestTimeout, sizeof kRequestTimeout - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      Close(c, true, "ETIMEDOUT");
      continue;
    }
    (c->out.empty() ? stats_.closed_idle : stats_.closed_stalled)++;
    Close(c, false, "ETIMEDOUT");
  }
  store_.PurgeExpired(now_);
}

// What node:http would do differently from here: an HTTP/1.0 request past
// maxRequestsPerSocket (an HTTP/1.1 one is refused here, see Refuse()), or one with more
// header fields than it keeps (it drops the rest, Range or If-None-Match among them maybe).
// Those requests are node:http's.
bool Connections::WithinLimits(const Connection& c, const char* head, const PlainRequest& request) const {
  if (max_requests_ > 0 && c.requests >= max_requests_) return false;
  if (hand_over_with_origin_ && request.has_origin) return false;
  // A field takes at least 4 bytes ("a:\r\n"): only a head this long can have too many.
  if (max_header_fields_ == 0 || request.length < 4 * max_header_fields_) return true;
  size_t lines = 0;
  for (const char* at = head; (at = static_cast<const char*>(memchr(at, '\n', head + request.length - at))) != nullptr; at++)
    lines++;
  // Less the request line and the empty line that ends the head.
  return lines < 2 || lines - 2 <= max_header_fields_;
}

// An idle connection is closed; one with a request waiting (parked, or pipelined behind
// output still going out) goes to node:http to be answered there, and node:http's shutdown
// closes it once it is idle.
void Connections::Drain() {
  draining_ = true;
  StartTurn();
  std::vector<uint32_t> ids;
  for (auto& [id, c] : connections_) ids.push_back(id);
  for (uint32_t id : ids) {
    Connection* c = Find(id);
    // A parked request stays in the socket for node:http; responses queued before it
    // leave first (a parked connection can have output still waiting for the socket).
    c->parked = false;
    if (c->out.empty()) {
      FinishDrain(c);
    } else {
      c->hand_over_when_flushed = true;  // Flush() calls FinishDrain()
    }
  }
}

void Connections::Shutdown() {
  disk_.Shutdown();
  if (watch_.poll == nullptr) return;
  // The ring first: nothing may still read a chunk once the connections are freed.
  if (ring_ != nullptr) CloseRing();
  leaving_.clear();
  for (auto& [id, c] : connections_) close(c->fd);
  connections_.clear();
  store_.Clear();
  if (watch_.epoll_fd >= 0) CloseEpollWatch(watch_);
  watch_ = EpollWatch();
  CloseIdle(idle_);
}

// Queues the read of the window after chunk.resident_to, unless the client is gone: a reset
// (or a full close) is not worth a window of disk reads on a pool that every file operation
// of JavaScript waits for. Returns false when the connection is closed instead.
bool Connections::ReadAhead(Connection* c, const Chunk& chunk) {
  if (PeerGone(c)) {
    disk_.CountDropped();
    stats_.closed_by_peer++;
    Close(c, false);
    return false;
  }
  c->reading_disk = true;
  disk_.Read(loop_, c->id, chunk);
  return true;
}

bool Connections::PeerGone(Connection* c) {
  struct pollfd peer = {c->fd, POLLRDHUP, 0};
  return poll(&peer, 1, 0) == 1 && (peer.revents & (POLLERR | POLLHUP)) != 0;
}

void Connections::OnDiskReadDone(void* self, const DiskRead& read) { static_cast<Connections*>(self)->OnDiskRead(read); }

// While draining, a connection with nothing left to send: node:http's if the client sent
// more, otherwise closed. (node:http counts a connection that never had a request as busy,
// so handing over an idle one would keep shutdown waiting for its header timeout.)
void Connections::FinishDrain(Connection* c) {
  char byte;
  if (recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
    stats_.hand_overs_shutdown++;
    HandOver(c);
  } else {
    stats_.closed_idle++;
    Close(c, true);
  }
}

Connection* Connections::Find(uint32_t id) {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

void Connections::OnDiskRead(const DiskRead& read) {
  Connection* c = Find(read.connection);
  if (c == nullptr) return;
  StartTurn();
  c->reading_disk = false;
  if (read.error != 0) {
    stats_.closed_error++;
    Close(c, false, strerrorname_np(read.error));
  } else {
    Chunk* front = c->out.empty() ? nullptr : &c->out.front();
    if (front != nullptr && front->serial == read.serial && front->resident_to == read.from) front->resident_to = read.to;
    if ((c->out.empty() || Flush(c)) && c->input_waiting) Serve(c);
  }
  on_turn_done_(owner_);
}

void Connections::SetCork(Connection* c, bool on) {
  int value = on ? 1 : 0;
  setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
  c->corked = on;
}

void Connections::RefreshDate() {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec == date_second_) return;
  date_second_ = now.tv_sec;
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char line[64];
  snprintf(line, sizeof line, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", kDays[utc.tm_wday], utc.tm_mday,
           kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
  date_line_ = line;
}

// The cache key of a request: its target exactly as sent, and when precompressed siblings
// are served, its Accept-Encoding exactly as sent. Returns false for a value JavaScript
// could not get back byte for byte (non-ASCII).
bool Connections::BuildKey(const PlainRequest& request) {
  key_.assign(request.target.data(), request.target.size());
  if (!vary_) return true;
  key_.push_back('\0');
  if (!request.has_accept_encoding) {
    key_.push_back('-');
    return true;
  }
  key_.push_back('=');
  for (char c : request.accept_encoding) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  key_.append(request.accept_encoding.data(), request.accept_encoding.size());
  return true;
}

// A request past maxRequestsPerSocket: node:http's 503, byte for byte (its Date, then
// "Connection: close", and an empty chunked body but to HEAD); like node:http, the connection
// stays open unless the request asked to close it.
void Connections::Refuse(Connection* c, const PlainRequest& request) {
  stats_.requests++;
  stats_.refused++;
  c->requests++;
  Chunk& answer = c->out.emplace_back(Chunk::kBytes, nullptr);
  answer.bytes.append("HTTP/1.1 503 Service Unavailable\r\n").append(date_line_).append("Connection: close\r\n");
  answer.bytes.append(request.head ? "\r\n" : "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  answer.ends_response = true;
  if (log_.on()) log_.Start(c, nullptr, request, 503, 0);
  if (request.head) stats_.heads++;
}

void Connections::Respond(Connection* c, const EntryRef& entry, const PlainRequest& request, const Answer& answer) {
  stats_.requests++;
  c->requests++;
  size_t first = 0, end = entry->body_size;
  int status = 200;
  if (answer.kind == Answer::kWhole) {
    stats_.ok++;
    c->out.emplace_back(Chunk::kHead, entry);
  } else if (answer.kind == Answer::kNotModified) {
    stats_.not_modified++;
    status = 304;
    first = end = 0;
    c->out.emplace_back(Chunk::kBytes, nullptr).bytes = entry->head_not_modified;
  } else {
    stats_.partial++;
    status = 206;
    first = static_cast<size_t>(answer.first);
    end = static_cast<size_t>(answer.last) + 1;
    std::string& head = c->out.emplace_back(Chunk::kBytes, nullptr).bytes;
    head.reserve(entry->head_partial.size() + 96);
    head.append(entry->head_partial);
    head.append("Content-Range: bytes ").append(std::to_string(first)).append("-");
    head.append(std::to_string(end - 1)).append("/").append(std::to_string(entry->body_size));
    head.append("\r\nContent-Length: ").append(std::to_string(end - first)).append("\r\n");
  }
  Chunk tail(Chunk::kBytes, nullptr);
  tail.bytes.reserve(date_line_.size() + keep_alive_line_.size());
  tail.bytes.append(date_line_);
  // The last request maxRequestsPerSocket allows is told to close, and (as node:http does)
  // the connection stays open: a request after it is node:http's to refuse.
  bool last = request.close || (max_requests_ > 0 && c->requests >= max_requests_);
  tail.bytes.append(last ? "Connection: close\r\n\r\n" : keep_alive_line_);
  c->out.push_back(std::move(tail));
  size_t length = request.head ? 0 : end - first;
  if (log_.on()) log_.Start(c, entry.get(), request, status, length);
  if (request.head) {
    stats_.heads++;
  } else if (answer.kind == Answer::kNotModified) {
    // No body, and no Content-Length to promise one.
  } else if (entry->body_fd >= 0) {
    stats_.responses_sendfile++;
    stats_.body_bytes_sendfile += length;
    if (entry->on_disk && length >= kLargeBody && !c->large_send_buffer) {
      // A long body moves in fewer, larger sendfile calls and wakeups with room for 8 MiB
      // in flight (the kernel doubles the value), twice what TCP autotuning grows to by default.
      int bytes = 4 << 20;
      setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
      c->large_send_buffer = true;
    }
    // No chunk for 0 bytes: a sendfile of nothing would read as "the file shrank".
    if (length > 0) {
      c->out.push_back(Chunk::Body(entry, first, end));
      c->out.back().serial = ++last_serial_;
    }
  } else {
    stats_.responses_memory++;
    stats_.body_bytes_memory += length;
    if (length > 0) c->out.push_back(Chunk::Body(entry, first, end));
  }
  c->out.back().ends_response = true;
}

// Answers every complete request at the front of the socket that the cache can answer.
void Connections::Serve(Connection* c) {
  if (ring_ != nullptr) {
    // The peek is a request on the ring; its completion calls AnswerPeeked().
    if (!c->out.empty()) {
      c->input_waiting = true;
      return;
    }
    ArmPeek(c, false);
    return;
  }
  // Bounded: a client that keeps pipelining is served until its socket's send buffer is
  // full (then output is pending and we wait), or for this many passes, then node:http has it.
  for (int pass = 0; pass < 1024; pass++) {
    if (c->parked) return;
    if (!c->out.empty()) {
      c->input_waiting = true;
      return;
    }
    ssize_t peeked = recv(c->fd, peek_.data(), peek_.size(), MSG_PEEK | MSG_DONTWAIT);
    if (peeked == 0) {
      stats_.closed_by_peer++;
      Close(c, false);
      return;
    }
    if (peeked < 0) {
      if (errno == EINTR) continue;
      c->input_waiting = false;
      if (errno == EAGAIN) return;
      stats_.closed_error++;
      Close(c, false, strerrorname_np(errno));
      return;
    }
    if (!AnswerPeeked(c, peek_.data(), static_cast<size_t>(peeked), peek_.size())) return;
  }
  stats_.hand_overs_request++;
  HandOverWhenFlushed(c);
}

// One pass over `size` bytes peeked from the front of the socket (into room for `capacity`).
// Returns true when the connection is still ours with its output out and more may be waiting
// in the socket (the caller peeks again).
bool Connections::AnswerPeeked(Connection* c, const char* data, size_t size, size_t capacity) {
  size_t consumed = 0;
  Next next = Next::kMore;
  // A read is answered here only if every complete request in it can be (an incomplete one
  // at its end waits for the next read); otherwise node:http reads all of it, as it would
  // have alone. When llhttp fails on a request of a read, node:http answers 400, or nothing
  // more if a response to an earlier request of the same read already went out (a cache
  // hit is answered at once): answering those earlier requests here and handing over the
  // rest would add a 400 that node:http never sends. So a miss parks with nothing answered,
  // and a request handed over takes the ones before it along.
  answers_.clear();
  while (consumed < size && next == Next::kMore) {
    PlainRequest request;
    ParseOutcome outcome = ParsePlainRequest(data + consumed, size - consumed, max_head_, &request);
    if (outcome == ParseOutcome::kIncomplete) {
      // The rest may be on its way; once it is the first thing left, node:http (with its
      // header timeout) waits for it instead of us.
      if (consumed == 0) {
        stats_.hand_overs_request++;
        next = Next::kHandOver;
      }
      break;
    }
    // llhttp fails on anything but CR/LF after a request that closes the connection.
    bool bytes_after_close = outcome == ParseOutcome::kComplete && request.close && consumed + request.length < size;
    if (outcome == ParseOutcome::kComplete && !bytes_after_close && !draining_ && max_requests_ > 0 &&
        c->requests + answers_.size() >= max_requests_ && !request.http10) {
      // The answers before it go out first; the refusal is written at once, so it is the
      // only answer of its pass (a later hand-over in the same read must not take it back).
      if (!answers_.empty()) break;
      Refuse(c, request);
      consumed += request.length;
      if (request.close) next = Next::kClose;
      break;
    }
    if (outcome == ParseOutcome::kHandOver || bytes_after_close || draining_ ||
        !WithinLimits(*c, data + consumed, request) || !BuildKey(request)) {
      stats_.hand_overs_request++;
      next = Next::kHandOver;
      break;
    }
    const EntryRef* found = store_.Find(key_, now_);
    if (found == nullptr) {
      next = Next::kPark;
      break;
    }
    if (!(*found)->answerable) {
      stats_.hand_overs_uncached++;
      next = Next::kHandOver;
      break;
    }
    Answer answer = ChooseAnswer(request, (*found)->validators());
    if (answer.kind == Answer::kHandOver) {
      stats_.hand_overs_request++;
      next = Next::kHandOver;
      break;
    }
    answers_.push_back({*found, request, answer});
    consumed += request.length;
    if (request.close) next = Next::kClose;
  }
  if (next == Next::kHandOver || next == Next::kPark) {
    answers_.clear();
    consumed = 0;
  }
  // The requests' string_views point into `data`, which holds them until the next peek.
  for (const PendingAnswer& pending : answers_) Respond(c, pending.entry, pending.request, pending.answer);
  answers_.clear();
  if (consumed > 0) {
    // The answered requests leave the socket; the ones after them stay for the next pass
    // or for node:http.
    if (ring_ != nullptr) {
      QueueDrop(c, consumed);
    } else {
      ssize_t dropped = recv(c->fd, nullptr, consumed, MSG_TRUNC | MSG_DONTWAIT);
      if (dropped != static_cast<ssize_t>(consumed)) {
        stats_.closed_error++;
        Close(c, false);
        return false;
      }
    }
    c->last_active = now_;
  }
  if (next == Next::kClose) {
    stats_.closed_requested++;
    c->close_when_flushed = true;
  } else if (next == Next::kHandOver) {
    c->hand_over_when_flushed = true;
  } else if (next == Next::kPark) {
    Park(c);
  }
  if (!Flush(c) || next != Next::kMore) return false;
  if (consumed == size && size < capacity) {
    // Everything that had arrived is answered; the next arrival is a new edge.
    c->input_waiting = false;
    return false;
  }
  return true;
}

void Connections::Park(Connection* c) {
  c->parked = true;
  waiting_[key_].push_back(c->id);
  if (!filling_.insert(key_).second) return;
  stats_.fills++;
  // The key is target + NUL + ('-' | '=' + Accept-Encoding) when the answer varies on it.
  size_t nul = key_.find('\0');
  Fill& fill = outbox_.fills.emplace_back();
  fill.key = key_;
  fill.target = key_.substr(0, nul);
  if (nul != std::string::npos && key_[nul + 1] == '=') fill.accept_encoding = key_.substr(nul + 2);
}

// Writes what the socket takes. Returns true when all output is out and the connection is
// still ours to read; false when it must wait for EPOLLOUT (or for its next turn), or is
// closed or handed over. A short write means the socket buffer is full: edge-triggered
// epoll reports the next free space, so no call is spent on learning EAGAIN.
bool Connections::Flush(Connection* c) {
  // Its completion goes on from here.
  if (c->send_in_flight) return Blocked(c);
  while (!c->out.empty()) {
    if (turn_.Spent()) {
      Defer(c->id, EPOLLOUT);
      return Blocked(c);
    }
    Chunk& front = c->out.front();
    size_t wanted;
    ssize_t sent;
    if (front.from_file()) {
      wanted = std::min(front.size() - front.offset, kSendfileChunk);
      if (front.entry->on_disk) {
        if (front.offset >= front.resident_to) {
          if (c->reading_disk) return Blocked(c);
          if (!Resident(front, now_)) {
            if (!ReadAhead(c, front)) return false;
            // What is queued (the head, sent with MSG_MORE) goes out while the disk works: the
            // client sees it sooner, and one that left answers it with a reset.
            SetCork(c, false);
            // epoll reports that reset by itself; the ring's hang-up poll is spent once the
            // client half-closed, so it is looked for here.
            if (c->peer_finished && PeerGone(c)) {
              stats_.closed_error++;
              Close(c, false);
              return false;
            }
            return Blocked(c);
          }
        }
        wanted = std::min(wanted, front.resident_to - front.offset);
      }
      off_t offset = static_cast<off_t>(front.offset);
      if (!c->corked && front.end - front.first >= kCorkedBody) SetCork(c, true);
      sent = sendfile(c->fd, front.entry->body_fd, &offset, wanted);
    } else if (ring_ != nullptr) {
      // The memory chunks go out by a sendmsg on the ring; its completion goes on from here.
      if (!c->send_in_flight) QueueSend(c);
      return Blocked(c);
    } else {
      struct iovec iov[kMaxIovecs];
      int count = 0;
      bool more = false;
      wanted = 0;
      for (const Chunk& chunk : c->out) {
        if (chunk.from_file() || count == kMaxIovecs) {
          more = true;
          break;
        }
        iov[count].iov_base = const_cast<char*>(chunk.data() + chunk.offset);
        iov[count].iov_len = chunk.size() - chunk.offset;
        wanted += iov[count].iov_len;
        count++;
      }
      struct msghdr message = {};
      message.msg_iov = iov;
      message.msg_iovlen = static_cast<size_t>(count);
      // MSG_MORE: the head and a sendfile body leave in the same packets (nginx: TCP_CORK).
      sent = sendmsg(c->fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0));
    }
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return WaitWritable(c);
      stats_.closed_error++;
      Close(c, false, strerrorname_np(errno));
      return false;
    }
    if (sent == 0) {
      // The file shrank under us: the response cannot be completed, and a short body must
      // never be followed by the next response. (A sealed memfd cannot shrink.)
      stats_.closed_error++;
      Close(c, false, "ERR_ZEROCOPY_SOURCE_TRUNCATED");
      return false;
    }
    c->last_active = now_;
    // A body that came from the disk: the next window is read while this one goes out (once
    // this send has shown the client is still there).
    if (front.from_file() && front.read_from_disk && !c->reading_disk && front.resident_to < front.size() &&
        !ReadAhead(c, front))
      return false;
    Advance(c, static_cast<size_t>(sent));
    if (static_cast<size_t>(sent) < wanted) return WaitWritable(c);
  }
  if (c->close_when_flushed) {
    Close(c, true);
    return false;
  }
  if (c->hand_over_when_flushed) {
    if (draining_) {
      FinishDrain(c);
    } else {
      HandOver(c);
    }
    return false;
  }
  return true;
}

// `sent` bytes of the output were taken by the socket: the chunks they finish leave, and the
// responses they end are logged.
void Connections::Advance(Connection* c, size_t sent) {
  size_t left = sent;
  while (left > 0) {
    Chunk& chunk = c->out.front();
    size_t rest = chunk.size() - chunk.offset;
    if (left < rest) {
      chunk.offset += left;
      break;
    }
    left -= rest;
    bool ends_response = chunk.ends_response;
    // Uncorking pushes the body's last partial segment at once.
    if (c->corked && chunk.from_file()) SetCork(c, false);
    c->out.pop_front();
    if (ends_response) log_.Finish(c, nullptr);
  }
}

// The socket is full: edge-triggered epoll reports the next free space by itself; the ring
// is asked to poll for it.
bool Connections::WaitWritable(Connection* c) {
  if (ring_ != nullptr) ArmWritable(c);
  return Blocked(c);
}

// Output waits (for EPOLLOUT or the next turn). Requests may be left in the socket behind
// it, and no new EPOLLIN edge will come for those bytes: read again once the output is out.
bool Connections::Blocked(Connection* c) {
  c->input_waiting = true;
  return false;
}

// Work left when a turn's time ran out: done on the next turn of the event loop.
void Connections::Defer(uint32_t id, uint32_t events) {
  deferred_.push_back({id, events});
  uv_idle_start(idle_, OnIdle);
}

// Handles readiness until the turn's time is up; the rest is deferred.
void Connections::Handle(const std::vector<std::pair<uint32_t, uint32_t>>& events) {
  for (size_t i = 0; i < events.size(); i++) {
    if (turn_.Spent()) {
      for (; i < events.size(); i++) Defer(events[i].first, events[i].second);
      return;
    }
    Connection* c = Find(events[i].first);
    if (c != nullptr) OnEvent(c, events[i].second);
  }
}

void Connections::OnIdle(uv_idle_t* handle) {
  auto* self = static_cast<Connections*>(handle->data);
  std::vector<std::pair<uint32_t, uint32_t>> events;
  events.swap(self->deferred_);
  self->StartTurn();
  // Completions the ring's Sqe() set aside come first (they are older than any event here).
  bool stash_done = self->ring_ == nullptr || self->HandleStashed();
  self->Handle(events);
  if (self->deferred_.empty() && stash_done) uv_idle_stop(handle);
  self->on_turn_done_(self->owner_);
}

void Connections::StartTurn() {
  now_ = MonotonicMs();
  turn_.Start();
  RefreshDate();
}

void Connections::HandOverWhenFlushed(Connection* c) {
  c->hand_over_when_flushed = true;
  if (c->out.empty()) HandOver(c);
}

void Connections::Forget(Connection* c) {
  if (c->reading_disk) disk_.Abandon(c->id);
  if (ring_ != nullptr) {
    ForgetRinged(c);
    return;
  }
  epoll_ctl(watch_.epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  connections_.erase(c->id);
  if (connections_.empty() && watch_.poll != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(watch_.poll));
}

void Connections::HandOver(Connection* c) {
  // Removed from the set before our dup is closed: epoll forgets a registration only when
  // every descriptor of the socket is closed, and Node's stays open.
  outbox_.hand_overs.push_back(c->id);
  Forget(c);
}

// `graceful`: the response is complete; FIN it and drop unread input (pipelined requests
// after "Connection: close") so that closing does not reset the connection. `error` names
// why responses still going out never will (for the access log).
void Connections::Close(Connection* c, bool graceful, const char* error) {
  log_.Abort(c, error);
  c->closing = true;
  if (graceful) {
    shutdown(c->fd, SHUT_WR);
    recv(c->fd, nullptr, 1 << 20, MSG_TRUNC | MSG_DONTWAIT);
  }
  outbox_.closes.push_back(c->id);
  Forget(c);
}

void Connections::OnEvent(Connection* c, uint32_t events) {
  if (events & EPOLLERR) {
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &length);
    stats_.closed_error++;
    Close(c, false, error > 0 ? strerrorname_np(error) : "ECONNRESET");
    return;
  }
  // Remembered before flushing: an edge is reported once, and the flush may have to wait.
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) c->input_waiting = true;
  if (!c->out.empty() && !Flush(c)) return;
  if (c->input_waiting) Serve(c);
}

void Connections::OnEpollReadable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<Connections*>(handle->data);
  struct epoll_event ready[kMaxEvents];
  int count = epoll_wait(self->watch_.epoll_fd, ready, kMaxEvents, 0);
  if (count <= 0) return;
  self->StartTurn();
  std::vector<std::pair<uint32_t, uint32_t>>& events = self->events_;
  events.clear();
  for (int i = 0; i < count; i++) events.emplace_back(static_cast<uint32_t>(ready[i].data.u64), static_cast<uint32_t>(ready[i].events));
  self->Handle(events);
  self->on_turn_done_(self->owner_);
}
}  // namespace zerocopy
