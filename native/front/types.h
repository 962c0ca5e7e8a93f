// What the native front's parts share: a cached answer (Entry), the output still queued on a
// connection (Chunk), and the counters the status page shows (Stats).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/epoll_watch.h"
#include "front/http_conditions.h"

namespace zerocopy {

inline uint64_t MonotonicMs() { return static_cast<uint64_t>(MonotonicNs() / 1'000'000); }

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
  std::string file_key;  // what JavaScript resolved the request to: one answer for all its spellings
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

struct Stats {
  double adopted = 0, requests = 0, heads = 0, responses_memory = 0, responses_sendfile = 0, body_bytes_memory = 0, body_bytes_sendfile = 0, fills = 0;
  double ok = 0, not_modified = 0, partial = 0, refused = 0;  // responses by status: 200, 304, 206, 503
  double hand_overs_request = 0, hand_overs_uncached = 0, hand_overs_shutdown = 0;
  double closed_by_peer = 0, closed_requested = 0, closed_idle = 0, closed_stalled = 0, closed_error = 0;
  double closed_header_timeout = 0;
};

// What the native front was built with (from JavaScript's options).
struct FrontOptions {
  int64_t keep_alive_timeout_ms = 5000;
  size_t max_head = 16384;
  bool vary = false;  // key entries on Accept-Encoding too
  size_t sendfile_min = 16384;
  size_t max_entries = 4096;
  size_t max_bytes = 64 << 20;
  int64_t turn_slice_ns = 2'000'000;
  size_t disk_reads_in_flight = 2;  // on the thread pool at once, from all connections
  int log_level = 0;  // 0: no access log; 1: without User-Agent and Referer; 2: with
  // node:http's limits, applied the same way: requests per connection (its
  // maxRequestsPerSocket) and header fields kept per request (maxHeadersCount); 0: none.
  uint32_t max_requests_per_socket = 0;
  size_t max_header_fields = 0;
  // Requests with an Origin field go to node:http (CORS answers that depend on the origin).
  bool hand_over_with_origin = false;
  int engine = 0;  // Engine: 0 epoll, 1 io_uring
};

}  // namespace zerocopy
