#include "front/access_log.h"

#include "front/connection.h"

namespace zerocopy {

void AccessLog::Start(Connection* c, const Entry* entry, const PlainRequest& request, int status, size_t length) {
  LogRecord& record = c->logging.emplace_back();
  record.connection = c->id;
  record.status = status;
  record.head = request.head;
  record.http10 = request.http10;
  record.sendfile = entry != nullptr && entry->body_fd >= 0 && length > 0;
  record.body_bytes = length;
  record.queued_ns = MonotonicNs();
  record.target.assign(request.target);
  if (entry != nullptr) record.encoding = entry->encoding;
  if (level_ > 1) {
    if (request.user_agent.data() != nullptr) record.user_agent.emplace(request.user_agent);
    if (request.referer.data() != nullptr) record.referer.emplace(request.referer);
  }
}

void AccessLog::Finish(Connection* c, const char* error) {
  if (c->logging.empty()) return;
  LogRecord& record = c->logging.front();
  record.done_ns = MonotonicNs();
  record.error = error;
  finished_.push_back(std::move(record));
  c->logging.pop_front();
}

void AccessLog::Abort(Connection* c, const char* error) {
  if (c->logging.empty()) return;
  // Only the oldest response can have begun; its body is at the front once its head is out.
  const Chunk* front = c->out.empty() ? nullptr : &c->out.front();
  c->logging.front().body_bytes = front != nullptr && front->kind == Chunk::kBody ? front->offset - front->first : 0;
  for (size_t i = 1; i < c->logging.size(); i++) c->logging[i].body_bytes = 0;
  while (!c->logging.empty()) Finish(c, error);
}

Napi::Array AccessLog::Take(Napi::Env env) {
  Napi::Array array = Napi::Array::New(env, finished_.size() * kLogFields);
  auto text = [&](const std::optional<std::string>& value) -> Napi::Value {
    return value.has_value() ? Napi::String::New(env, *value) : env.Null();
  };
  uint32_t base = 0;
  for (const LogRecord& record : finished_) {
    array.Set(base + kLogConnection, record.connection);
    array.Set(base + kLogTarget, Napi::String::New(env, record.target));
    array.Set(base + kLogStatus, record.status);
    array.Set(base + kLogFlags, (record.head ? kLogFlagHead : 0) | (record.http10 ? kLogFlagHttp10 : 0));
    array.Set(base + kLogBodyBytes, static_cast<double>(record.body_bytes));
    array.Set(base + kLogDurationMs, static_cast<double>(record.done_ns - record.queued_ns) / 1e6);
    array.Set(base + kLogSendfile, record.sendfile);
    array.Set(base + kLogEncoding, record.encoding.empty() ? env.Null() : Napi::String::New(env, record.encoding));
    array.Set(base + kLogError, record.error == nullptr ? env.Null() : Napi::String::New(env, record.error));
    array.Set(base + kLogUserAgent, text(record.user_agent));
    array.Set(base + kLogReferer, text(record.referer));
    base += kLogFields;
  }
  finished_.clear();
  return array;
}

}  // namespace zerocopy
