// Access-log records of the native front: one per response, from the moment it was queued
// until its last byte was taken by the socket (or the connection failed first), handed to
// JavaScript as a flat array of kLogFields values per response.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "front/http_request.h"
#include "front/types.h"

namespace zerocopy {

struct Connection;

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

// The values of one response in the log array, in this order.
enum LogField : uint32_t {
  kLogConnection,  // connection id
  kLogTarget,
  kLogStatus,
  kLogFlags,  // kLogFlagHead | kLogFlagHttp10
  kLogBodyBytes,
  kLogDurationMs,  // from queued to out
  kLogSendfile,  // boolean
  kLogEncoding,  // string | null
  kLogError,  // string | null
  kLogUserAgent,  // string | null (always null with log level 1)
  kLogReferer,  // string | null (always null with log level 1)
  kLogFields
};
constexpr uint32_t kLogFlagHead = 1, kLogFlagHttp10 = 2;

class AccessLog {
 public:
  explicit AccessLog(int level) : level_(level) {}
  bool on() const { return level_ > 0; }
  // A response was queued on `c` (from `entry`, or none); its record waits in c->logging
  // until Finish().
  void Start(Connection* c, const Entry* entry, const PlainRequest& request, int status, size_t length);
  // The oldest pending response is out (error == nullptr), or will never be.
  void Finish(Connection* c, const char* error);
  // The connection is failing: no response still queued will complete.
  void Abort(Connection* c, const char* error);
  bool empty() const { return finished_.empty(); }
  // The finished records as kLogFields values each, and forgets them.
  Napi::Array Take(Napi::Env env);

 private:
  int level_;
  std::vector<LogRecord> finished_;
};

}  // namespace zerocopy
