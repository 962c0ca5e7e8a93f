// The native front of `zerocopy serve`: plain GET/HEAD requests for files in the small-file
// cache, or for larger files kept open for the cache validity, are answered here without a
// JavaScript call per request, the way nginx answers from its open_file_cache: with the whole
// file, 304 Not Modified, or 206 with one range (http_conditions.h decides which). Requests
// are only peeked (MSG_PEEK) until they are answered, so a connection can be handed to
// node:http at any request boundary with every byte the client sent still in the socket: a
// miss, several ranges, If-Match, anything unusual goes to the full JavaScript path, which
// also fills this cache (see src/http/fast-path.ts).
//
// Nothing here waits for the disk on the event-loop thread: a large file's body is sent inline
// only where it is in the page cache, and a range that is not is first read into it on the
// thread pool (nginx's `aio threads`), while the loop goes on serving everyone else.
//
// One epoll set, edge-triggered, watched by one libuv poll handle. Each connection is a dup
// of the descriptor of a paused net.Socket that JavaScript keeps; this side never closes
// Node's descriptor, it only reports which sockets to destroy or to hand to node:http.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <climits>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/args.h"
#include "common/epoll_watch.h"
#include "exports.h"
#include "front/http_conditions.h"
#include "front/http_request.h"
#include "syscalls/page_cache.h"

namespace zerocopy {

namespace {

constexpr int kMaxEvents = 256;
constexpr int kMaxIovecs = 64;
// Sealed memfds, and the open files of bodies too large to keep, are sent with sendfile;
// each is a descriptor, so there are at most this many.
constexpr size_t kMaxBodyDescriptors = 1024;
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
// A body not in the page cache is read into it on the thread pool this much at a time, the
// next range while the one before is being sent.
constexpr size_t kDiskReadWindow = 8 << 20;
// A file found wholly in the page cache is trusted this long before cachestat looks again.
// cachestat walks every page it is asked about (about 4 ms for 1 GiB), which was 4% of the
// server's CPU when a large hot file is served back to back; eviction can race a check
// either way, and a large response lasts about this long anyway.
constexpr uint64_t kResidentTrustMs = 1000;

uint64_t MonotonicMs() { return static_cast<uint64_t>(MonotonicNs() / 1'000'000); }

// One cached answer: the heads up to (not including) Date, and the body.
struct Entry {
  std::string head;  // of the 200
  std::string head_not_modified;  // of a 304
  std::string head_partial;  // of a 206, up to its Content-Range and Content-Length
  std::string etag;
  std::optional<int64_t> last_modified_ms;
  bool accept_ranges = false;
  std::string body;   // when body_fd < 0
  int body_fd = -1;   // a sealed memfd, or the file itself (on_disk), sent with sendfile
  size_t body_size = 0;
  uint64_t valid_until = 0;
  mutable uint64_t resident_until = 0;  // on_disk: in the page cache as of the last check, until then
  bool on_disk = false;  // too large to keep: sent from the file, which may have to be read from the disk first
  bool answerable = true;  // false: JavaScript said this target is not a cached 200; hand over
  std::string encoding;  // of a precompressed sibling, for the access log; empty otherwise
  size_t memory() const { return on_disk ? 0 : body_size; }
  Validators validators() const {
    Validators out;
    if (!etag.empty()) out.etag = etag;
    out.last_modified_ms = last_modified_ms;
    out.accept_ranges = accept_ranges;
    out.size = body_size;
    return out;
  }
  ~Entry() {
    if (body_fd >= 0) close(body_fd);
  }
};
using EntryRef = std::shared_ptr<Entry>;

// A piece of output not yet taken by the socket.
struct Chunk {
  enum Kind : uint8_t { kBytes, kHead, kBody };
  Chunk(Kind kind, EntryRef entry) : kind(kind), entry(std::move(entry)) {}
  // The bytes [first, end) of an entry's body: all of it, or the range of a 206.
  static Chunk Body(EntryRef entry, size_t first, size_t end) {
    Chunk body(kBody, std::move(entry));
    body.first = body.offset = body.resident_to = first;
    body.end = end;
    return body;
  }
  Kind kind;
  EntryRef entry;
  std::string bytes;
  size_t first = 0, end = 0;  // kBody
  size_t offset = 0;  // of the next byte to send: from first (kBody) or 0 to size()
  bool ends_response = false;  // its last byte out completes the oldest pending log record
  // An on-disk body: [first, resident_to) was found in the page cache, or read into it.
  size_t resident_to = 0;
  bool read_from_disk = false;  // part of it was not in the page cache: read ahead of sending
  uint64_t serial = 0;  // tells a finished disk read whether its body is still the one going out

  size_t size() const {
    return kind == kBytes ? bytes.size() : kind == kHead ? entry->head.size() : end;
  }
  const char* data() const {
    return kind == kBytes ? bytes.data() : kind == kHead ? entry->head.data() : entry->body.data();
  }
  bool from_file() const { return kind == kBody && entry->body_fd >= 0; }
  bool whole_body() const { return first == 0 && end == entry->body_size; }
};

// One response for the access log, from the moment it was queued until its last byte was
// taken by the socket (or the connection failed first).
struct LogRecord {
  uint32_t connection;
  int status;
  bool head;
  bool http10;
  bool sendfile;
  size_t body_bytes;
  int64_t queued_ns;
  int64_t done_ns = 0;
  std::string target, encoding;
  std::optional<std::string> user_agent, referer;
  const char* error = nullptr;  // an errno name or a Node-style code, when it did not complete
};

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
};

struct Stats {
  double adopted = 0, requests = 0, heads = 0, responses_memory = 0, responses_sendfile = 0, body_bytes_memory = 0, body_bytes_sendfile = 0, fills = 0;
  double not_modified = 0, partial = 0;
  double disk_reads = 0, disk_read_bytes = 0;
  double hand_overs_request = 0, hand_overs_uncached = 0, hand_overs_shutdown = 0;
  double closed_by_peer = 0, closed_requested = 0, closed_idle = 0, closed_stalled = 0, closed_error = 0;
};

class NativeFront : public Napi::ObjectWrap<NativeFront> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeFront",
                       {InstanceMethod("adopt", &NativeFront::Adopt), InstanceMethod("complete", &NativeFront::Complete),
                        InstanceMethod("sweep", &NativeFront::Sweep), InstanceMethod("drain", &NativeFront::Drain),
                        InstanceMethod("stats", &NativeFront::GetStats), InstanceMethod("close", &NativeFront::CloseAll)});
  }

  // new NativeFront({ keepAliveTimeoutMs, maxHeaderSize, varyOnAcceptEncoding, sendfileMinBytes,
  //                 maxEntries, maxBytes, turnSliceMs, log }, onEvents(fills, handOvers, closes, log))
  // fills: [key, target, acceptEncoding | null, ...]; handOvers and closes: connection ids;
  // log: kLogFields values per finished response (see Dispatch), when `log` is 1 (without
  // User-Agent and Referer) or 2.
  explicit NativeFront(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeFront>(info) {
    Napi::Env env = info.Env();
    Napi::Object options = OptionsWithCallback(info, "new NativeFront(options, onEvents)");
    int64_t keep_alive_s = static_cast<int64_t>(NumberOption(options, "keepAliveTimeoutMs") / 1000);
    keep_alive_line_ = "Connection: keep-alive\r\nKeep-Alive: timeout=" + std::to_string(keep_alive_s) + "\r\n\r\n";
    max_head_ = static_cast<size_t>(NumberOption(options, "maxHeaderSize"));
    vary_ = options.Get("varyOnAcceptEncoding").ToBoolean();
    sendfile_min_ = static_cast<size_t>(NumberOption(options, "sendfileMinBytes"));
    max_entries_ = static_cast<size_t>(NumberOption(options, "maxEntries"));
    max_bytes_ = static_cast<size_t>(NumberOption(options, "maxBytes"));
    turn_.slice_ns = static_cast<int64_t>(NumberOption(options, "turnSliceMs") * 1e6);
    Napi::Value log = options.Get("log");
    log_level_ = log.IsNumber() ? log.As<Napi::Number>().Int32Value() : 0;
    peek_.resize(max_head_ + 1);
    on_events_ = Napi::Persistent(info[1].As<Napi::Function>());
    watch_ = StartEpollWatch(env, this, OnEpollReadable);
    napi_get_uv_event_loop(env, &loop_);
    idle_ = OpenIdle(env, this);
    env_ = env;
  }

  ~NativeFront() override { Shutdown(); }

 private:
  // adopt(fd) -> connection id | -errno. `fd` is a connected TCP socket whose net.Socket is
  // paused; we watch a dup of it until we report it in handOvers or closes.
  Napi::Value Adopt(const Napi::CallbackInfo& info) {
    if (watch_.epoll_fd < 0) return NumberResult(info.Env(), -EBADF);
    int dup = fcntl(FdArg(info, 0), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return NumberResult(info.Env(), -errno);
    uint32_t id = next_id_++;
    struct epoll_event event = {};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = id;
    if (epoll_ctl(watch_.epoll_fd, EPOLL_CTL_ADD, dup, &event) < 0) {
      int error = errno;
      close(dup);
      return NumberResult(info.Env(), -error);
    }
    auto connection = std::make_unique<Connection>();
    connection->id = id;
    connection->fd = dup;
    connection->last_active = MonotonicMs();
    if (connections_.empty()) uv_ref(reinterpret_cast<uv_handle_t*>(watch_.poll));
    connections_.emplace(id, std::move(connection));
    stats_.adopted++;
    // Bytes already waiting are reported by epoll at once: an edge-triggered add starts ready.
    return Napi::Number::New(info.Env(), id);
  }

  // complete(key, answer | null, validForMs): the answer to a fill (a FrontEntry of
  // src/binding/native.ts). Its body is `body`, or with fileFd >= 0 the first fileSize bytes
  // of that open file (we keep a dup). A null answer means "not a cached 200": the waiting
  // connections go to node:http, and for validForMs so do later requests for this key
  // without asking again.
  Napi::Value Complete(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string key = info[0].As<Napi::String>().Utf8Value();
    double valid_for = info[2].As<Napi::Number>().DoubleValue();
    StartTurn();
    filling_.erase(key);
    bool answerable = info[1].IsObject();
    bool stored = false;
    if (valid_for >= 1) {
      auto entry = std::make_shared<Entry>();
      entry->answerable = answerable;
      entry->valid_until = now_ + static_cast<uint64_t>(valid_for);
      if (answerable) ReadAnswer(info[1].As<Napi::Object>(), entry.get());
      // A file body we could not keep a descriptor for is not stored.
      if (!entry->on_disk || entry->body_fd >= 0) stored = Store(key, std::move(entry));
    } else {
      Erase(key);
    }
    // Waiters are served from the table only when the answer is there to stay; otherwise they
    // would ask again at once.
    bool serve_waiters = answerable && stored;
    auto waiting = waiting_.find(key);
    if (waiting != waiting_.end()) {
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
    Dispatch();
    return env.Undefined();
  }

  void ReadAnswer(const Napi::Object& answer, Entry* entry) {
    auto bytes = [&](const char* name, std::string* out) {
      auto buffer = answer.Get(name).As<Napi::Buffer<char>>();
      out->assign(buffer.Data(), buffer.Length());
    };
    bytes("head", &entry->head);
    bytes("headNotModified", &entry->head_not_modified);
    bytes("headPartial", &entry->head_partial);
    Napi::Value etag = answer.Get("etag");
    if (etag.IsString()) entry->etag = etag.As<Napi::String>().Utf8Value();
    Napi::Value last_modified = answer.Get("lastModifiedMs");
    if (last_modified.IsNumber()) entry->last_modified_ms = last_modified.As<Napi::Number>().Int64Value();
    entry->accept_ranges = answer.Get("acceptRanges").ToBoolean();
    Napi::Value encoding = answer.Get("encoding");
    if (encoding.IsString()) entry->encoding = encoding.As<Napi::String>().Utf8Value();
    Napi::Value file_fd = answer.Get("fileFd");
    if (file_fd.IsNumber()) {
      entry->on_disk = true;
      entry->body_size = static_cast<size_t>(answer.Get("fileSize").As<Napi::Number>().Int64Value());
      if (body_descriptors_ < kMaxBodyDescriptors)
        entry->body_fd = fcntl(file_fd.As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
    } else {
      auto body = answer.Get("body").As<Napi::Buffer<char>>();
      StoreBody(entry, body.Data(), body.Length());
    }
  }

  // sweep(idleMs, stalledMs): closes keep-alive connections idle this long between requests,
  // and connections whose output made no progress for stalledMs (a reader that stopped).
  Napi::Value Sweep(const Napi::CallbackInfo& info) {
    uint64_t idle = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
    uint64_t stalled = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
    StartTurn();
    std::vector<uint32_t> expired;
    for (auto& [id, c] : connections_) {
      if (c->parked) continue;
      uint64_t quiet = now_ - c->last_active;
      if (c->out.empty() ? quiet >= idle : quiet >= stalled) expired.push_back(id);
    }
    for (uint32_t id : expired) {
      Connection* c = Find(id);
      (c->out.empty() ? stats_.closed_idle : stats_.closed_stalled)++;
      Close(c, false, "ETIMEDOUT");
    }
    Dispatch();
    return info.Env().Undefined();
  }

  // drain(): graceful shutdown. An idle connection is closed; one with a request waiting
  // (parked, or pipelined behind output still going out) goes to node:http to be answered
  // there, and node:http's shutdown closes it once it is idle.
  Napi::Value Drain(const Napi::CallbackInfo& info) {
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
    Dispatch();
    return info.Env().Undefined();
  }

  // While draining, a connection with nothing left to send: node:http's if the client sent
  // more, otherwise closed. (node:http counts a connection that never had a request as busy,
  // so handing over an idle one would keep shutdown waiting for its header timeout.)
  void FinishDrain(Connection* c) {
    char byte;
    if (recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
      stats_.hand_overs_shutdown++;
      HandOver(c);
    } else {
      stats_.closed_idle++;
      Close(c, true);
    }
  }

  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("connectionsAdopted", stats_.adopted);
    out.Set("connectionsOpen", static_cast<double>(connections_.size()));
    out.Set("requests", stats_.requests);
    out.Set("heads", stats_.heads);
    out.Set("responsesMemory", stats_.responses_memory);
    out.Set("responsesSendfile", stats_.responses_sendfile);
    out.Set("responsesNotModified", stats_.not_modified);
    out.Set("responsesPartial", stats_.partial);
    out.Set("bodyBytesMemory", stats_.body_bytes_memory);
    out.Set("bodyBytesSendfile", stats_.body_bytes_sendfile);
    out.Set("fills", stats_.fills);
    out.Set("entries", static_cast<double>(entries_.size()));
    out.Set("handOversRequest", stats_.hand_overs_request);
    out.Set("handOversUncached", stats_.hand_overs_uncached);
    out.Set("diskReads", stats_.disk_reads);
    out.Set("diskReadBytes", stats_.disk_read_bytes);
    out.Set("handOversShutdown", stats_.hand_overs_shutdown);
    out.Set("closedByPeer", stats_.closed_by_peer);
    out.Set("closedRequested", stats_.closed_requested);
    out.Set("closedIdle", stats_.closed_idle);
    out.Set("closedStalled", stats_.closed_stalled);
    out.Set("closedError", stats_.closed_error);
    return out;
  }

  Napi::Value CloseAll(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Connection* Find(uint32_t id) {
    auto it = connections_.find(id);
    return it == connections_.end() ? nullptr : it->second.get();
  }

  void StoreBody(Entry* entry, const char* data, size_t size) {
    entry->body_size = size;
    if (size >= sendfile_min_ && body_descriptors_ < kMaxBodyDescriptors) {
      int fd = memfd_create("zerocopy-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
      size_t written = 0;
      while (fd >= 0 && written < size) {
        ssize_t n = write(fd, data + written, size - written);
        if (n <= 0 && errno != EINTR) break;
        if (n > 0) written += static_cast<size_t>(n);
      }
      if (fd >= 0 && written == size &&
          fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0) {
        entry->body_fd = fd;
        return;
      }
      if (fd >= 0) close(fd);
    }
    entry->body.assign(data, size);
  }

  // Returns whether the entry is in the table (a body larger than the whole budget is not).
  bool Store(const std::string& key, EntryRef entry) {
    Erase(key);
    size_t size = entry->memory();
    if (entries_.size() + 1 > max_entries_ || bytes_ + size > max_bytes_) {
      for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->second->valid_until <= now_) {
          Forget(*it->second);
          it = entries_.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (entries_.size() + 1 > max_entries_ || bytes_ + size > max_bytes_) {
      for (auto& [k, e] : entries_) Forget(*e);
      entries_.clear();
    }
    if (size > max_bytes_ || max_entries_ == 0) return false;
    bytes_ += size;
    if (entry->body_fd >= 0) body_descriptors_++;
    entries_.emplace(key, std::move(entry));
    return true;
  }

  void Erase(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    Forget(*it->second);
    entries_.erase(it);
  }

  // An entry leaves the table (responses in flight may still hold it).
  void Forget(const Entry& entry) {
    bytes_ -= entry.memory();
    if (entry.body_fd >= 0) body_descriptors_--;
  }

  // Whether the next bytes of an on-disk body can be sent without waiting for the disk, moving
  // chunk.resident_to past what the page cache holds. For a whole body the whole file is
  // looked at first (and then trusted for a while); for a range, or once part of the file was
  // missing, the window ahead.
  bool Resident(Chunk& chunk) const {
    const Entry& entry = *chunk.entry;
    if (!chunk.read_from_disk) {
      if (chunk.whole_body() && entry.resident_until <= now_ && ResidentNow(entry.body_fd, 0, entry.body_size) == 1)
        entry.resident_until = now_ + kResidentTrustMs;
      if (entry.resident_until > now_) {
        chunk.resident_to = chunk.end;
        return true;
      }
    }
    size_t end = std::min(chunk.end, chunk.offset + kDiskReadWindow);
    if (ResidentNow(entry.body_fd, chunk.offset, end - chunk.offset) == 1) {
      chunk.resident_to = end;
      return true;
    }
    chunk.read_from_disk = true;
    return false;
  }

  // A range of a body read into the page cache on the thread pool; it holds the entry, and so
  // the file's descriptor, while the connection may close under it.
  struct DiskRead {
    uv_work_t work;
    std::shared_ptr<bool> alive;  // the responder's: false once it shut down
    NativeFront* responder;
    uint32_t connection;
    uint64_t serial;
    EntryRef entry;
    size_t from, to;
    int error = 0;
  };

  // Reads the window after chunk.resident_to into the page cache, on the thread pool.
  void ReadFromDisk(Connection* c, const Chunk& chunk) {
    auto* read = new DiskRead{{}, alive_, this, c->id, chunk.serial, chunk.entry, chunk.resident_to,
                              std::min(chunk.end, chunk.resident_to + kDiskReadWindow)};
    read->work.data = read;
    c->reading_disk = true;
    stats_.disk_reads++;
    stats_.disk_read_bytes += static_cast<double>(read->to - read->from);
    uv_queue_work(loop_, &read->work, RunDiskRead, FinishDiskRead);
  }

  // sendfile into /dev/null waits for the disk like any read of the file, but copies nothing:
  // the pages stay in the page cache for the sendfile to the socket.
  static void RunDiskRead(uv_work_t* work) {
    auto* read = static_cast<DiskRead*>(work->data);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0) {
      read->error = errno;
      return;
    }
    off_t offset = static_cast<off_t>(read->from);
    // Bounded by the window: every call moves bytes, or ends the loop.
    while (static_cast<size_t>(offset) < read->to) {
      ssize_t n = sendfile(null, read->entry->body_fd, &offset, read->to - static_cast<size_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) read->error = errno;
      // 0: the file shrank; the sendfile to the socket finds that out and cuts the response.
      if (n <= 0) break;
    }
    close(null);
  }

  static void FinishDiskRead(uv_work_t* work, int) {
    std::unique_ptr<DiskRead> read(static_cast<DiskRead*>(work->data));
    if (*read->alive) read->responder->OnDiskRead(*read);
  }

  void OnDiskRead(const DiskRead& read) {
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
    Dispatch();
  }

  void SetCork(Connection* c, bool on) {
    int value = on ? 1 : 0;
    setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
    c->corked = on;
  }

  void RefreshDate() {
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
  bool BuildKey(const PlainRequest& request) {
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

  void Respond(Connection* c, const EntryRef& entry, const PlainRequest& request, const Answer& answer) {
    stats_.requests++;
    size_t first = 0, end = entry->body_size;
    int status = 200;
    if (answer.kind == Answer::kWhole) {
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
    tail.bytes.append(request.close ? "Connection: close\r\n\r\n" : keep_alive_line_);
    c->out.push_back(std::move(tail));
    size_t length = request.head ? 0 : end - first;
    if (log_level_ > 0) StartLogRecord(c, entry, request, status, length);
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

  void StartLogRecord(Connection* c, const EntryRef& entry, const PlainRequest& request, int status, size_t length) {
    LogRecord& record = c->logging.emplace_back();
    record.connection = c->id;
    record.status = status;
    record.head = request.head;
    record.http10 = request.http10;
    record.sendfile = entry->body_fd >= 0 && length > 0;
    record.body_bytes = length;
    record.queued_ns = MonotonicNs();
    record.target.assign(request.target);
    record.encoding = entry->encoding;
    if (log_level_ > 1) {
      if (request.user_agent.data() != nullptr) record.user_agent.emplace(request.user_agent);
      if (request.referer.data() != nullptr) record.referer.emplace(request.referer);
    }
  }

  // The oldest pending response is out (error == nullptr), or will never be.
  void FinishLogRecord(Connection* c, const char* error) {
    if (c->logging.empty()) return;
    LogRecord& record = c->logging.front();
    record.done_ns = MonotonicNs();
    record.error = error;
    log_.push_back(std::move(record));
    c->logging.pop_front();
  }

  // The connection is failing: no response still queued will complete.
  void AbortLogRecords(Connection* c, const char* error) {
    if (c->logging.empty()) return;
    // Only the oldest response can have begun; its body is at the front once its head is out.
    const Chunk* front = c->out.empty() ? nullptr : &c->out.front();
    c->logging.front().body_bytes = front != nullptr && front->kind == Chunk::kBody ? front->offset - front->first : 0;
    for (size_t i = 1; i < c->logging.size(); i++) c->logging[i].body_bytes = 0;
    while (!c->logging.empty()) FinishLogRecord(c, error);
  }

  enum class Next { kMore, kPark, kHandOver, kClose };

  // Answers every complete request at the front of the socket that the cache can answer.
  void Serve(Connection* c) {
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
      size_t size = static_cast<size_t>(peeked);
      size_t consumed = 0;
      Next next = Next::kMore;
      while (consumed < size && next == Next::kMore) {
        PlainRequest request;
        ParseOutcome outcome = ParsePlainRequest(peek_.data() + consumed, size - consumed, max_head_, &request);
        if (outcome == ParseOutcome::kIncomplete) {
          // The rest may be on its way; once it is the first thing left, node:http (with its
          // header timeout) waits for it instead of us.
          if (consumed == 0) {
            stats_.hand_overs_request++;
            next = Next::kHandOver;
          }
          break;
        }
        if (outcome == ParseOutcome::kHandOver || draining_ || !BuildKey(request)) {
          stats_.hand_overs_request++;
          next = Next::kHandOver;
          break;
        }
        auto found = entries_.find(key_);
        if (found == entries_.end() || found->second->valid_until <= now_) {
          next = Next::kPark;
          break;
        }
        if (!found->second->answerable) {
          stats_.hand_overs_uncached++;
          next = Next::kHandOver;
          break;
        }
        Answer answer = ChooseAnswer(request, found->second->validators());
        if (answer.kind == Answer::kHandOver) {
          stats_.hand_overs_request++;
          next = Next::kHandOver;
          break;
        }
        Respond(c, found->second, request, answer);
        consumed += request.length;
        if (request.close) next = Next::kClose;
      }
      if (consumed > 0) {
        // The answered requests leave the socket; the ones after them stay for the next pass
        // or for node:http.
        ssize_t dropped = recv(c->fd, nullptr, consumed, MSG_TRUNC | MSG_DONTWAIT);
        if (dropped != static_cast<ssize_t>(consumed)) {
          stats_.closed_error++;
          Close(c, false);
          return;
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
      if (!Flush(c) || next != Next::kMore) return;
      if (consumed == size && size < peek_.size()) {
        // Everything that had arrived is answered; the next arrival is a new edge.
        c->input_waiting = false;
        return;
      }
    }
    stats_.hand_overs_request++;
    HandOverWhenFlushed(c);
  }

  void Park(Connection* c) {
    c->parked = true;
    waiting_[key_].push_back(c->id);
    if (!filling_.insert(key_).second) return;
    stats_.fills++;
    // The key is target + NUL + ('-' | '=' + Accept-Encoding) when the answer varies on it.
    size_t nul = key_.find('\0');
    fills_.push_back(key_);
    fills_.push_back(key_.substr(0, nul));
    fills_.push_back(nul == std::string::npos || key_[nul + 1] == '-' ? std::string() : key_.substr(nul + 2));
    fill_has_encoding_.push_back(nul != std::string::npos && key_[nul + 1] == '=');
  }

  // Writes what the socket takes. Returns true when all output is out and the connection is
  // still ours to read; false when it must wait for EPOLLOUT (or for its next turn), or is
  // closed or handed over. A short write means the socket buffer is full: edge-triggered
  // epoll reports the next free space, so no call is spent on learning EAGAIN.
  bool Flush(Connection* c) {
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
            if (!Resident(front)) {
              ReadFromDisk(c, front);
              return Blocked(c);
            }
          }
          // A body that came from the disk: the next window is read while this one goes out.
          if (front.read_from_disk && !c->reading_disk && front.resident_to < front.size()) ReadFromDisk(c, front);
          wanted = std::min(wanted, front.resident_to - front.offset);
        }
        off_t offset = static_cast<off_t>(front.offset);
        if (!c->corked && front.end - front.first >= kCorkedBody) SetCork(c, true);
        sent = sendfile(c->fd, front.entry->body_fd, &offset, wanted);
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
        if (errno == EAGAIN) return Blocked(c);
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
      size_t left = static_cast<size_t>(sent);
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
        if (ends_response) FinishLogRecord(c, nullptr);
      }
      if (static_cast<size_t>(sent) < wanted) return Blocked(c);
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

  // Output waits (for EPOLLOUT or the next turn). Requests may be left in the socket behind
  // it, and no new EPOLLIN edge will come for those bytes: read again once the output is out.
  bool Blocked(Connection* c) {
    c->input_waiting = true;
    return false;
  }

  // Work left when a turn's time ran out: done on the next turn of the event loop.
  void Defer(uint32_t id, uint32_t events) {
    deferred_.push_back({id, events});
    uv_idle_start(idle_, OnIdle);
  }

  // Handles readiness until the turn's time is up; the rest is deferred.
  void Handle(const std::vector<std::pair<uint32_t, uint32_t>>& events) {
    for (size_t i = 0; i < events.size(); i++) {
      if (turn_.Spent()) {
        for (; i < events.size(); i++) Defer(events[i].first, events[i].second);
        return;
      }
      Connection* c = Find(events[i].first);
      if (c != nullptr) OnEvent(c, events[i].second);
    }
  }

  static void OnIdle(uv_idle_t* handle) {
    auto* self = static_cast<NativeFront*>(handle->data);
    std::vector<std::pair<uint32_t, uint32_t>> events;
    events.swap(self->deferred_);
    self->StartTurn();
    self->Handle(events);
    if (self->deferred_.empty()) uv_idle_stop(handle);
    self->Dispatch();
  }

  void StartTurn() {
    now_ = MonotonicMs();
    turn_.Start();
    RefreshDate();
  }

  void HandOverWhenFlushed(Connection* c) {
    c->hand_over_when_flushed = true;
    if (c->out.empty()) HandOver(c);
  }

  void Forget(Connection* c) {
    epoll_ctl(watch_.epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
    connections_.erase(c->id);
    if (connections_.empty() && watch_.poll != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(watch_.poll));
  }

  void HandOver(Connection* c) {
    // Removed from the set before our dup is closed: epoll forgets a registration only when
    // every descriptor of the socket is closed, and Node's stays open.
    hand_overs_.push_back(c->id);
    Forget(c);
  }

  // `graceful`: the response is complete; FIN it and drop unread input (pipelined requests
  // after "Connection: close") so that closing does not reset the connection. `error` names
  // why responses still going out never will (for the access log).
  void Close(Connection* c, bool graceful, const char* error = "ECONNRESET") {
    AbortLogRecords(c, error);
    if (graceful) {
      shutdown(c->fd, SHUT_WR);
      recv(c->fd, nullptr, 1 << 20, MSG_TRUNC | MSG_DONTWAIT);
    }
    closes_.push_back(c->id);
    Forget(c);
  }

  void OnEvent(Connection* c, uint32_t events) {
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

  static void OnEpollReadable(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<NativeFront*>(handle->data);
    struct epoll_event ready[kMaxEvents];
    int count = epoll_wait(self->watch_.epoll_fd, ready, kMaxEvents, 0);
    if (count <= 0) return;
    self->StartTurn();
    std::vector<std::pair<uint32_t, uint32_t>>& events = self->events_;
    events.clear();
    for (int i = 0; i < count; i++) events.emplace_back(static_cast<uint32_t>(ready[i].data.u64), static_cast<uint32_t>(ready[i].events));
    self->Handle(events);
    self->Dispatch();
  }

  // Tells JavaScript what to fill, which sockets are node:http's now, which to destroy.
  void Dispatch() {
    if (fills_.empty() && hand_overs_.empty() && closes_.empty() && log_.empty()) return;
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    Napi::Array fills = Napi::Array::New(env, fills_.size());
    for (size_t i = 0; i < fills_.size(); i++) {
      bool encoding_slot = i % 3 == 2;
      fills.Set(static_cast<uint32_t>(i), encoding_slot && !fill_has_encoding_[i / 3]
                                               ? env.Null()
                                               : Napi::String::New(env, fills_[i]));
    }
    auto ids = [&](std::vector<uint32_t>& list) {
      Napi::Array array = Napi::Array::New(env, list.size());
      for (size_t i = 0; i < list.size(); i++) array.Set(static_cast<uint32_t>(i), list[i]);
      list.clear();
      return array;
    };
    Napi::Array hand_overs = ids(hand_overs_);
    Napi::Array closes = ids(closes_);
    fills_.clear();
    fill_has_encoding_.clear();
    Napi::Value log = log_.empty() ? env.Undefined() : LogArray(env);
    on_events_.MakeCallback(env.Global(), {fills, hand_overs, closes, log});
  }

  // Per finished response, kLogFields values: connection id, target, status, flags (1: HEAD,
  // 2: HTTP/1.0), body bytes, milliseconds from queued to out, sendfile?, encoding | null,
  // error | null, and with log level 2, User-Agent | null, Referer | null.
  static constexpr uint32_t kLogFields = 11;
  Napi::Array LogArray(Napi::Env env) {
    Napi::Array array = Napi::Array::New(env, log_.size() * kLogFields);
    auto text = [&](const std::optional<std::string>& value) -> Napi::Value {
      return value.has_value() ? Napi::String::New(env, *value) : env.Null();
    };
    uint32_t at = 0;
    for (const LogRecord& record : log_) {
      array.Set(at++, record.connection);
      array.Set(at++, Napi::String::New(env, record.target));
      array.Set(at++, record.status);
      array.Set(at++, (record.head ? 1 : 0) | (record.http10 ? 2 : 0));
      array.Set(at++, static_cast<double>(record.body_bytes));
      array.Set(at++, static_cast<double>(record.done_ns - record.queued_ns) / 1e6);
      array.Set(at++, record.sendfile);
      array.Set(at++, record.encoding.empty() ? env.Null() : Napi::String::New(env, record.encoding));
      array.Set(at++, record.error == nullptr ? env.Null() : Napi::String::New(env, record.error));
      array.Set(at++, text(record.user_agent));
      array.Set(at++, text(record.referer));
    }
    log_.clear();
    return array;
  }

  void Shutdown() {
    *alive_ = false;
    if (watch_.epoll_fd < 0) return;
    for (auto& [id, c] : connections_) close(c->fd);
    connections_.clear();
    entries_.clear();
    CloseEpollWatch(watch_);
    CloseIdle(idle_);
  }

  Napi::FunctionReference on_events_;
  Napi::Env env_ = nullptr;
  EpollWatch watch_;
  uv_loop_t* loop_ = nullptr;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // told to disk reads in flight
  uint64_t last_serial_ = 0;
  uv_idle_t* idle_ = nullptr;
  std::vector<std::pair<uint32_t, uint32_t>> deferred_, events_;  // (connection id, epoll events)
  TurnBudget turn_;
  uint32_t next_id_ = 1;
  std::unordered_map<uint32_t, std::unique_ptr<Connection>> connections_;
  std::unordered_map<std::string, EntryRef> entries_;
  std::unordered_map<std::string, std::vector<uint32_t>> waiting_;
  std::unordered_set<std::string> filling_;
  std::vector<std::string> fills_;
  std::vector<bool> fill_has_encoding_;
  std::vector<uint32_t> hand_overs_, closes_;
  std::vector<LogRecord> log_;
  int log_level_ = 0;
  std::vector<char> peek_;
  std::string key_, date_line_, keep_alive_line_;
  time_t date_second_ = -1;
  uint64_t now_ = 0;
  size_t max_head_ = 16384, sendfile_min_ = 16384, max_entries_ = 4096, max_bytes_ = 64 << 20;
  size_t bytes_ = 0, body_descriptors_ = 0;
  bool vary_ = false, draining_ = false;
  Stats stats_;
};

}  // namespace

Napi::Function DefineNativeFront(Napi::Env env) { return NativeFront::Define(env); }

}  // namespace zerocopy
