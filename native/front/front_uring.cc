// The io_uring engine of the native front: the same state machine as connection.cc, with
// its system calls made requests on a ring. Per connection, one receive with MSG_PEEK waits
// for a request (the kernel picks a provided buffer when the data arrives, so an idle
// connection holds none); the bytes answered leave the socket by a receive with MSG_TRUNC,
// and the answers by one sendmsg; every request of a turn, from all connections, goes to the
// kernel in one io_uring_enter. A request stays unread until it is answered, as with epoll,
// so a connection can be handed to node:http at any request boundary with every byte the
// client sent still in the socket. Bodies sent from files keep sendfile (io_uring has no
// sendfile; a poll on the ring says when the socket has room again).
//
// Connections are accepted by Node (every connection has a net.Socket that node:http can take
// over), not by a multishot accept here.
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "front/connection.h"

namespace zerocopy {

namespace {

// What a completion is for: its user_data is the connection id << 8 | the kind.
enum Kind : uint8_t { kPeek = 1, kSend = 2, kWritable = 3, kDrop = 4, kCancel = 5, kHangUp = 6 };
inline uint64_t Tag(uint32_t id, Kind kind) { return static_cast<uint64_t>(id) << 8 | kind; }

// Submissions the ring holds between two enters: a turn's peeks, drops and sends for the
// connections it served (queued beyond that, Sqe() submits early).
constexpr unsigned kRingEntries = 1024;
constexpr uint16_t kBufferGroup = 0;
// Provided buffers: one is held from a peek's completion to the end of its handling, so a
// turn needs as many as the peeks it reaps at once. Each holds a whole request head (the
// front's limit, plus the byte that tells a longer head): at most this much memory in all.
constexpr size_t kBufferMemory = 8 << 20;
constexpr unsigned kMaxBuffers = 256, kMinBuffers = 16;
// Enters per turn of the event loop at most (each reaps and submits what the last produced);
// the rest is reaped on the next turn (libuv's poll on the ring stays readable).
constexpr int kRoundsPerTurn = 16;
// At close, how long sends still in flight are waited for (in rounds of a wait on the ring):
// their memory is freed only once they completed.
constexpr int kCloseRounds = 100;
constexpr long long kCloseWaitNs = 10 * 1000 * 1000;

}  // namespace

int Connections::OpenRing(Napi::Env env) {
  auto ring = std::make_unique<Ring>();
  int opened = ring->Open(kRingEntries, kFrontRingOps, kFrontRingOpCount);
  if (opened < 0) return opened;
  size_t size = max_head_ + 1;
  unsigned count = kMaxBuffers;
  while (count > kMinBuffers && count * size > kBufferMemory) count /= 2;
  int provided = ring->ProvideBuffers(kBufferGroup, count, size);
  if (provided < 0) return provided;
  ring_ = std::move(ring);
  watch_.epoll_fd = -1;
  watch_.poll = new uv_poll_t;
  uv_poll_init(loop_, watch_.poll, ring_->fd());
  watch_.poll->data = this;
  uv_poll_start(watch_.poll, UV_READABLE, OnRingReadable);
  uv_unref(reinterpret_cast<uv_handle_t*>(watch_.poll));
  return 0;
}

// Cancels everything still in flight and waits (a bounded time) for the sends among it to
// complete: a cancel is only a request, and a send already under way reads its chunks until
// it ends. Then closes.
void Connections::CloseRing() {
  struct io_uring_sqe* sqe = Sqe();
  if (sqe != nullptr) {
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
    sqe->user_data = Tag(0, kCancel);
  }
  ring_->Submit();
  auto settle = [this](const struct io_uring_cqe& cqe) {
    if ((cqe.user_data & 0xff) != kSend) return;
    auto id = static_cast<uint32_t>(cqe.user_data >> 8);
    if (leaving_.erase(id) > 0) return;
    Connection* c = Find(id);
    if (c != nullptr) c->send_in_flight = false;
  };
  auto sends_in_flight = [this] {
    size_t count = leaving_.size();
    for (const auto& [id, c] : connections_) count += c->send_in_flight ? 1 : 0;
    return count;
  };
  for (const struct io_uring_cqe& cqe : stashed_) settle(cqe);
  stashed_.clear();
  ring_->Reap(settle);
  for (int round = 0; round < kCloseRounds && sends_in_flight() > 0; round++) {
    ring_->Wait(1, kCloseWaitNs);
    ring_->Reap(settle);
  }
  // A send that never completed may still read its chunks: its connection is never freed.
  for (auto& [id, c] : leaving_) c.release();
  leaving_.clear();
  std::vector<uint32_t> sending;
  for (const auto& [id, c] : connections_) {
    if (c->send_in_flight) sending.push_back(id);
  }
  for (uint32_t id : sending) {
    auto node = connections_.extract(id);
    close(node.mapped()->fd);
    node.mapped().release();
  }
  uv_poll_stop(watch_.poll);
  uv_close(reinterpret_cast<uv_handle_t*>(watch_.poll), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
  ring_.reset();
}

// A submission entry, or nullptr when the kernel takes none of the queued ones (-EAGAIN,
// -ENOMEM, -EBUSY): the caller gives up on its connection (Starve()).
struct io_uring_sqe* Connections::Sqe() {
  struct io_uring_sqe* sqe = ring_->Next();
  if (sqe != nullptr) return sqe;
  ring_->Submit();
  sqe = ring_->Next();
  if (sqe != nullptr) return sqe;
  // Room in the completion queue may be what the kernel waits for. The completions are set
  // aside, not handled here (the caller is in the middle of a connection's state), and are
  // handled before any later one.
  ring_->Reap([this](const struct io_uring_cqe& cqe) { stashed_.push_back(cqe); });
  if (!stashed_.empty()) uv_idle_start(idle_, OnIdle);
  ring_->Submit();
  return ring_->Next();
}

// The ring took no more requests for this connection: it is closed at the end of the turn
// (not here: the caller still uses it), and queues nothing more until then.
void Connections::Starve(Connection* c) {
  if (c->starved) return;
  c->starved = true;
  starved_.push_back(c->id);
}

void Connections::CloseStarved() {
  std::vector<uint32_t> ids;
  ids.swap(starved_);
  for (uint32_t id : ids) {
    Connection* c = Find(id);
    if (c == nullptr) continue;
    stats_.closed_error++;
    Close(c, false, "ENOBUFS");
  }
}

// Handles the completions Sqe() set aside, oldest first; false when more were set aside
// meanwhile (still to be handled before anything reaped later).
bool Connections::HandleStashed() {
  for (int batch = 0; batch < kRoundsPerTurn && !stashed_.empty(); batch++) {
    std::vector<struct io_uring_cqe> cqes;
    cqes.swap(stashed_);
    for (const struct io_uring_cqe& cqe : cqes) {
      if (ring_ == nullptr) return false;
      OnCompletion(cqe);
    }
  }
  return stashed_.empty();
}

void Connections::SubmitQueued() {
  if (ring_ == nullptr) return;
  if (!starved_.empty()) CloseStarved();
  if (ring_->HasWork()) ring_->Submit();
}

// A receive with MSG_PEEK: completes when a request (or a FIN, or an error) is there.
// `poll_first`: nothing is expected yet (an answer just went out), so the kernel skips the try.
void Connections::ArmPeek(Connection* c, bool poll_first) {
  if (c->starved || c->peek_armed || c->parked || c->send_in_flight || !c->out.empty()) return;
  struct io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return Starve(c);
  sqe->opcode = IORING_OP_RECV;
  sqe->fd = c->fd;
  sqe->len = static_cast<uint32_t>(ring_->buffer_size());
  sqe->msg_flags = MSG_PEEK;
  sqe->flags = IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  sqe->ioprio = poll_first ? IORING_RECVSEND_POLL_FIRST : 0;
  sqe->user_data = Tag(c->id, kPeek);
  c->peek_armed = true;
}

// A reset or a full close, reported even while no peek is armed (output pending, a disk read
// running), as epoll reports EPOLLERR and EPOLLHUP whatever it was asked for: a client that
// left is not worth the rest of its disk reads. Armed once, at adoption.
void Connections::ArmHangUp(Connection* c) {
  if (c->starved) return;
  struct io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return Starve(c);
  sqe->opcode = IORING_OP_POLL_ADD;
  sqe->fd = c->fd;
  sqe->poll32_events = 0;  // POLLERR and POLLHUP are always polled for
  sqe->user_data = Tag(c->id, kHangUp);
  c->hang_up_armed = true;
}

void Connections::ArmWritable(Connection* c) {
  if (c->starved || c->writable_armed) return;
  struct io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return Starve(c);
  sqe->opcode = IORING_OP_POLL_ADD;
  sqe->fd = c->fd;
  sqe->poll32_events = POLLOUT;
  sqe->user_data = Tag(c->id, kWritable);
  c->writable_armed = true;
}

// The answered requests leave the socket. They were peeked, so they are there: this never
// waits. Submitted before any later peek of the socket. Its completion says how many bytes
// left: fewer than answered, and the next peek would answer the rest again.
void Connections::QueueDrop(Connection* c, size_t bytes) {
  if (c->starved) return;
  struct io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return Starve(c);
  sqe->opcode = IORING_OP_RECV;
  sqe->fd = c->fd;
  sqe->addr = 0;
  sqe->len = static_cast<uint32_t>(bytes);
  sqe->msg_flags = MSG_TRUNC | MSG_DONTWAIT;
  sqe->user_data = Tag(c->id, kDrop);
  c->drops_in_flight++;
  c->drop_owed += static_cast<int64_t>(bytes);
}

// One sendmsg of the memory chunks at the front of the output (up to a file's body).
void Connections::QueueSend(Connection* c) {
  if (c->starved) return;
  if (c->send_vector == nullptr) c->send_vector = std::make_unique<Connection::SendVector>();
  struct iovec* iov = c->send_vector->iov;
  int count = 0;
  bool more = false;
  size_t wanted = 0;
  for (const Chunk& chunk : c->out) {
    if (chunk.from_file() || count == Connection::kSendIovecs) {
      more = true;
      break;
    }
    iov[count].iov_base = const_cast<char*>(chunk.data() + chunk.offset);
    iov[count].iov_len = chunk.size() - chunk.offset;
    wanted += iov[count].iov_len;
    count++;
  }
  struct msghdr* message = &c->send_vector->message;
  *message = {};
  message->msg_iov = iov;
  message->msg_iovlen = static_cast<size_t>(count);
  struct io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return Starve(c);
  sqe->opcode = IORING_OP_SENDMSG;
  sqe->fd = c->fd;
  sqe->addr = reinterpret_cast<uint64_t>(message);
  sqe->len = 1;
  // MSG_MORE: the head and a sendfile body leave in the same packets (nginx: TCP_CORK).
  sqe->msg_flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
  sqe->user_data = Tag(c->id, kSend);
  c->send_wanted = wanted;
  c->send_in_flight = true;
}

// False when the ring took no more requests.
bool Connections::Cancel(uint32_t id, uint8_t kind) {
  struct io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return false;
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = -1;
  sqe->addr = Tag(id, static_cast<Kind>(kind));
  sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
  sqe->user_data = Tag(id, kCancel);
  return true;
}

// The connection leaves (closed, or node:http's now): what it has in flight is cancelled. A
// peek never took a byte, so node:http finds every one still in the socket.
void Connections::ForgetRinged(Connection* c) {
  uint32_t id = c->id;
  bool cancelled = true;
  if (c->peek_armed) cancelled = Cancel(id, kPeek) && cancelled;
  if (c->writable_armed) cancelled = Cancel(id, kWritable) && cancelled;
  if (c->hang_up_armed) cancelled = Cancel(id, kHangUp) && cancelled;
  if (c->send_in_flight) cancelled = Cancel(id, kSend) && cancelled;
  // A request left armed holds the socket open after Node closes it; one being closed anyway
  // is shut down, which completes them. (One handed over keeps them until the socket stirs:
  // a peek takes nothing, and their completions find no connection.)
  if (!cancelled && c->closing) shutdown(c->fd, SHUT_RDWR);
  close(c->fd);
  c->fd = -1;
  auto node = connections_.extract(id);
  if (c->send_in_flight) leaving_.emplace(id, std::move(node.mapped()));
  if (connections_.empty()) uv_unref(reinterpret_cast<uv_handle_t*>(watch_.poll));
}

void Connections::OnCompletion(const struct io_uring_cqe& cqe) {
  uint32_t id = static_cast<uint32_t>(cqe.user_data >> 8);
  auto kind = static_cast<Kind>(cqe.user_data & 0xff);
  Connection* c = Find(id);
  if (c == nullptr) {
    // Gone: a buffer it was given goes back, and a send it had in flight is over.
    if (kind == kPeek && (cqe.flags & IORING_CQE_F_BUFFER) != 0)
      ring_->Recycle(static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT));
    if (kind == kSend) leaving_.erase(id);
    return;
  }
  switch (kind) {
    case kPeek:
      OnPeeked(c, cqe);
      break;
    case kSend:
      OnSent(c, cqe.res);
      break;
    case kWritable:
      c->writable_armed = false;
      if (cqe.res < 0 && cqe.res != -ECANCELED) {
        stats_.closed_error++;
        Close(c, false, strerrorname_np(-cqe.res));
      } else if (Flush(c)) {
        Serve(c);
      }
      break;
    case kHangUp:
      c->hang_up_armed = false;
      if (cqe.res > 0 && (cqe.res & POLLERR) != 0) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &length);
        stats_.closed_error++;
        Close(c, false, error > 0 ? strerrorname_np(error) : "ECONNRESET");
      } else if (cqe.res > 0 && (cqe.res & POLLHUP) != 0) {
        stats_.closed_by_peer++;
        Close(c, false);
      } else if (cqe.res > 0) {
        // POLLRDHUP, which the ring always polls for: the client sent all it will send and
        // may still read. Its requests are answered; a reset after that shows up on the
        // next send, or the next disk read's check (PeerGone()).
        c->peer_finished = true;
      }
      break;
    case kDrop:
      // Bytes that were peeked could not all be dropped: the next peek would answer them again
      // (the epoll engine's check on its recv).
      c->drops_in_flight--;
      if (cqe.res < 0) {
        stats_.closed_error++;
        Close(c, false, strerrorname_np(-cqe.res));
        break;
      }
      c->drop_owed -= cqe.res;
      if (c->drops_in_flight == 0 && c->drop_owed != 0) {
        stats_.closed_error++;
        Close(c, false);
      }
      break;
    case kCancel:
      break;
  }
}

void Connections::OnPeeked(Connection* c, const struct io_uring_cqe& cqe) {
  c->peek_armed = false;
  bool has_buffer = (cqe.flags & IORING_CQE_F_BUFFER) != 0;
  auto buffer = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  int result = cqe.res;
  if (result == -ENOBUFS || result == -EINTR || result == -EAGAIN) {
    // More peeks completed at once than there are buffers: this one peeks on its own.
    if (has_buffer) ring_->Recycle(buffer);
    c->input_waiting = true;
    ssize_t peeked = recv(c->fd, peek_.data(), peek_.size(), MSG_PEEK | MSG_DONTWAIT);
    if (peeked < 0 && errno == EAGAIN) {
      ArmPeek(c, true);
      return;
    }
    result = peeked < 0 ? -errno : static_cast<int>(peeked);
    has_buffer = false;
  }
  const char* data = has_buffer ? ring_->Buffer(buffer) : peek_.data();
  size_t capacity = has_buffer ? ring_->buffer_size() : peek_.size();
  uint32_t id = c->id;
  if (result == 0) {
    stats_.closed_by_peer++;
    Close(c, false);
  } else if (result < 0) {
    stats_.closed_error++;
    Close(c, false, strerrorname_np(-result));
  } else if (c->parked || !c->out.empty()) {
    // Not ours to read yet: peeked again once the output is out or the fill is in.
    c->input_waiting = true;
  } else if (AnswerPeeked(c, data, static_cast<size_t>(result), capacity)) {
    // All answered and out, and the buffer was full: more is waiting.
    Connection* still = Find(id);
    if (still != nullptr) ArmPeek(still, false);
  } else {
    Connection* still = Find(id);
    // Everything that had arrived is answered and out: wait for the next request.
    if (still != nullptr && still->out.empty() && !still->parked) ArmPeek(still, true);
  }
  if (has_buffer) ring_->Recycle(buffer);
}

void Connections::OnSent(Connection* c, int result) {
  c->send_in_flight = false;
  if (result < 0) {
    stats_.closed_error++;
    Close(c, false, strerrorname_np(-result));
    return;
  }
  if (result == 0 && c->send_wanted > 0) {
    stats_.closed_error++;
    Close(c, false, "EPIPE");
    return;
  }
  c->last_active = now_;
  Advance(c, static_cast<size_t>(result));
  // A short send goes on from where it stopped (the ring waits for room); when all is out,
  // the next request is peeked for.
  uint32_t id = c->id;
  if (Flush(c)) {
    Connection* still = Find(id);
    if (still != nullptr && !still->parked) ArmPeek(still, true);
  }
}

void Connections::OnRingReadable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<Connections*>(handle->data);
  if (self->ring_ == nullptr) return;
  self->StartTurn();
  for (int round = 0; round < kRoundsPerTurn; round++) {
    if (!self->HandleStashed()) break;
    if (self->ring_ == nullptr) return;
    unsigned reaped = self->ring_->Reap([self](const struct io_uring_cqe& cqe) { self->OnCompletion(cqe); });
    if (self->ring_ == nullptr) return;
    if (self->ring_->HasWork()) {
      self->ring_->Submit();
    } else if (reaped == 0) {
      break;
    }
    if (self->turn_.Spent()) break;
  }
  self->on_turn_done_(self->owner_);
}

}  // namespace zerocopy
