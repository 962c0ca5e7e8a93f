// The native front of `zerocopy serve`, as JavaScript sees it: the NativeFront class and the
// methods it calls. Plain GET/HEAD requests for files in the small-file cache, or for larger
// files kept open for the cache validity, are answered without a JavaScript call per request,
// the way nginx answers from its open_file_cache: with the whole file, 304 Not Modified, or
// 206 with one range (http_conditions.h decides which). The parts: connection.h (the state
// machine), cache_store.h (the answers), disk_reads.h (the thread pool), access_log.h (the
// records).
#include <fcntl.h>
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "common/args.h"
#include "exports.h"
#include "front/connection.h"

namespace zerocopy {

namespace {

// The counters stats() returns, by name (besides kStateStats, read from the cache and the
// disk reads, and byStatus).
struct StatField {
  const char* name;
  double Stats::* value;
};
constexpr StatField kStatFields[] = {
    {"connectionsAdopted", &Stats::adopted},
    {"requests", &Stats::requests},
    {"heads", &Stats::heads},
    {"responsesMemory", &Stats::responses_memory},
    {"responsesSendfile", &Stats::responses_sendfile},
    {"responsesNotModified", &Stats::not_modified},
    {"responsesPartial", &Stats::partial},
    {"bodyBytesMemory", &Stats::body_bytes_memory},
    {"bodyBytesSendfile", &Stats::body_bytes_sendfile},
    {"fills", &Stats::fills},
    {"handOversRequest", &Stats::hand_overs_request},
    {"handOversUncached", &Stats::hand_overs_uncached},
    {"handOversShutdown", &Stats::hand_overs_shutdown},
    {"closedByPeer", &Stats::closed_by_peer},
    {"closedRequested", &Stats::closed_requested},
    {"closedIdle", &Stats::closed_idle},
    {"closedStalled", &Stats::closed_stalled},
    {"closedHeaderTimeout", &Stats::closed_header_timeout},
    {"closedError", &Stats::closed_error},
};

// The answers this side gives, by status, for byStatus.
struct StatusCount {
  int status;
  double Stats::* value;
};
// What stats() reads from the cache store and the disk reads rather than from Stats.
constexpr const char* kStateStats[] = {"connectionsOpen", "entries", "entryKeys", "entryBytes",
                                       "entryDescriptors", "entriesEvicted", "diskReads", "diskReadBytes",
                                       "diskReadsDropped", "diskReadsRunning", "diskReadsWaiting"};

constexpr StatusCount kStatusCounts[] = {
    {200, &Stats::ok}, {206, &Stats::partial}, {304, &Stats::not_modified}, {503, &Stats::refused}};

// Each fill is this many values in the fills array: key, target, Accept-Encoding | null.
enum FillField : uint32_t { kFillKey, kFillTarget, kFillAcceptEncoding, kFillFields };

// The native cache keys an answer by target and Accept-Encoding as sent: one file of the
// JavaScript cache is asked for under several keys (identity, and the few Accept-Encoding
// values browsers send), so the table holds this many keys per file the JavaScript cache holds.
constexpr uint32_t kKeysPerFile = 4;

Napi::Object Indexes(Napi::Env env, std::initializer_list<std::pair<const char*, uint32_t>> names) {
  Napi::Object out = Napi::Object::New(env);
  for (auto [name, index] : names) out.Set(name, index);
  return out;
}

// NativeFront.layout: what JavaScript reads the arrays and counters by, defined here once.
Napi::Object Layout(Napi::Env env) {
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("logFields", static_cast<uint32_t>(kLogFields));
  layout.Set("logField", Indexes(env, {{"connection", kLogConnection},
                                       {"target", kLogTarget},
                                       {"status", kLogStatus},
                                       {"flags", kLogFlags},
                                       {"bodyBytes", kLogBodyBytes},
                                       {"durationMs", kLogDurationMs},
                                       {"sendfile", kLogSendfile},
                                       {"encoding", kLogEncoding},
                                       {"error", kLogError},
                                       {"userAgent", kLogUserAgent},
                                       {"referer", kLogReferer}}));
  layout.Set("logFlag", Indexes(env, {{"head", kLogFlagHead}, {"http10", kLogFlagHttp10}}));
  layout.Set("fillFields", static_cast<uint32_t>(kFillFields));
  layout.Set("fillField",
             Indexes(env, {{"key", kFillKey}, {"target", kFillTarget}, {"acceptEncoding", kFillAcceptEncoding}}));
  layout.Set("keysPerFile", kKeysPerFile);
  Napi::Array stats = Napi::Array::New(env);
  uint32_t at = 0;
  for (const StatField& field : kStatFields) stats.Set(at++, field.name);
  for (const char* name : kStateStats) stats.Set(at++, name);
  stats.Set(at++, "byStatus");
  layout.Set("stats", stats);
  Napi::Array statuses = Napi::Array::New(env);
  at = 0;
  for (const StatusCount& count : kStatusCounts) statuses.Set(at++, count.status);
  layout.Set("statuses", statuses);
  layout.Freeze();
  return layout;
}

class NativeFront : public Napi::ObjectWrap<NativeFront> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeFront",
                       {InstanceMethod("adopt", &NativeFront::Adopt), InstanceMethod("complete", &NativeFront::Complete),
                        InstanceMethod("sweep", &NativeFront::Sweep), InstanceMethod("drain", &NativeFront::Drain),
                        InstanceMethod("stats", &NativeFront::GetStats), InstanceMethod("close", &NativeFront::CloseAll),
                        InstanceMethod("engine", &NativeFront::GetEngine),
                        StaticValue("layout", Layout(env))});
  }

  // new NativeFront({ keepAliveTimeoutMs, maxHeaderSize, varyOnAcceptEncoding, sendfileMinBytes,
  //                 maxEntries, maxBytes, turnSliceMs, diskReadsInFlight, log },
  //                 onEvents(fills, handOvers, closes, log))
  // fills: [key, target, acceptEncoding | null, ...]; handOvers and closes: connection ids;
  // log: kLogFields values per finished response (access_log.h), when `log` is 1 (without
  // User-Agent and Referer) or 2.
  explicit NativeFront(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<NativeFront>(info),
        env_(info.Env()),
        core_(info.Env(), ReadOptions(info), OnTurnDone, this) {
    on_events_ = Napi::Persistent(info[1].As<Napi::Function>());
  }

  ~NativeFront() override { core_.Shutdown(); }

 private:
  static FrontOptions ReadOptions(const Napi::CallbackInfo& info) {
    Napi::Object options = OptionsWithCallback(info, "new NativeFront(options, onEvents)");
    FrontOptions out;
    out.keep_alive_timeout_ms = static_cast<int64_t>(NumberOption(options, "keepAliveTimeoutMs"));
    out.max_head = static_cast<size_t>(NumberOption(options, "maxHeaderSize"));
    out.vary = options.Get("varyOnAcceptEncoding").ToBoolean();
    out.sendfile_min = static_cast<size_t>(NumberOption(options, "sendfileMinBytes"));
    out.max_entries = static_cast<size_t>(NumberOption(options, "maxEntries"));
    out.max_bytes = static_cast<size_t>(NumberOption(options, "maxBytes"));
    out.turn_slice_ns = static_cast<int64_t>(NumberOption(options, "turnSliceMs") * 1e6);
    out.disk_reads_in_flight = static_cast<size_t>(NumberOption(options, "diskReadsInFlight"));
    Napi::Value log = options.Get("log");
    out.log_level = log.IsNumber() ? log.As<Napi::Number>().Int32Value() : 0;
    out.max_requests_per_socket = static_cast<uint32_t>(NumberOption(options, "maxRequestsPerSocket"));
    out.max_header_fields = static_cast<size_t>(NumberOption(options, "maxHeaderFields"));
    out.hand_over_with_origin = options.Get("handOverWithOrigin").ToBoolean();
    Napi::Value engine = options.Get("engine");
    out.engine = engine.IsString() && engine.As<Napi::String>().Utf8Value() == "io_uring"
                     ? static_cast<int>(Engine::kIoUring)
                     : static_cast<int>(Engine::kEpoll);
    return out;
  }

  // adopt(fd) -> connection id | -errno. `fd` is a connected TCP socket whose net.Socket is
  // paused; we watch a dup of it until we report it in handOvers or closes.
  Napi::Value Adopt(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(core_.Adopt(FdArg(info, 0))));
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
    core_.StartTurn();
    bool answerable = info[1].IsObject();
    EntryRef entry;
    if (valid_for >= 1) {
      uint64_t valid_until = core_.now() + static_cast<uint64_t>(valid_for);
      // The same version of a file that another target led to: its answer (body, descriptor) is shared.
      if (answerable) entry = core_.store().Refresh(FileKeyOf(info[1].As<Napi::Object>()), valid_until);
      if (entry == nullptr) {
        entry = std::make_shared<Entry>();
        entry->answerable = answerable;
        entry->valid_until = valid_until;
        if (answerable) ReadAnswer(info[1].As<Napi::Object>(), entry.get());
      }
    }
    core_.Complete(key, std::move(entry), answerable);
    Dispatch();
    return env.Undefined();
  }

  static std::string FileKeyOf(const Napi::Object& answer) {
    Napi::Value file_key = answer.Get("fileKey");
    return file_key.IsString() ? file_key.As<Napi::String>().Utf8Value() : std::string();
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
    entry->file_key = FileKeyOf(answer);
    Napi::Value encoding = answer.Get("encoding");
    if (encoding.IsString()) entry->encoding = encoding.As<Napi::String>().Utf8Value();
    Napi::Value file_fd = answer.Get("fileFd");
    if (file_fd.IsNumber()) {
      entry->on_disk = true;
      entry->body_size = static_cast<size_t>(answer.Get("fileSize").As<Napi::Number>().Int64Value());
      if (core_.store().CanKeepDescriptor())
        entry->body_fd = fcntl(file_fd.As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
    } else {
      auto body = answer.Get("body").As<Napi::Buffer<char>>();
      core_.store().StoreBody(entry, body.Data(), body.Length());
    }
  }

  // sweep(idleMs, stalledMs, headersMs): closes keep-alive connections idle this long between
  // requests, connections whose output made no progress for stalledMs (a reader that
  // stopped), and connections that sent no request within headersMs.
  Napi::Value Sweep(const Napi::CallbackInfo& info) {
    auto ms = [&](size_t i) { return static_cast<uint64_t>(info[i].As<Napi::Number>().DoubleValue()); };
    core_.Sweep(ms(0), ms(1), ms(2));
    Dispatch();
    return info.Env().Undefined();
  }

  // drain(): graceful shutdown. An idle connection is closed; one with a request waiting
  // goes to node:http to be answered there.
  Napi::Value Drain(const Napi::CallbackInfo& info) {
    core_.Drain();
    Dispatch();
    return info.Env().Undefined();
  }

  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Stats& stats = core_.stats();
    Napi::Object out = Napi::Object::New(env);
    for (const StatField& field : kStatFields) out.Set(field.name, stats.*field.value);
    out.Set("connectionsOpen", static_cast<double>(core_.open()));
    const CacheStore& store = core_.store();
    out.Set("entries", static_cast<double>(store.size()));
    out.Set("entryKeys", static_cast<double>(store.keys()));
    out.Set("entryBytes", static_cast<double>(store.bytes()));
    out.Set("entryDescriptors", static_cast<double>(store.descriptors()));
    out.Set("entriesEvicted", store.evictions());
    const DiskReads& disk = core_.disk_reads();
    out.Set("diskReads", disk.started());
    out.Set("diskReadBytes", disk.bytes());
    out.Set("diskReadsDropped", disk.dropped());
    out.Set("diskReadsRunning", static_cast<double>(disk.running()));
    out.Set("diskReadsWaiting", static_cast<double>(disk.waiting()));
    Napi::Object by_status = Napi::Object::New(env);
    for (const StatusCount& count : kStatusCounts) by_status.Set(std::to_string(count.status), stats.*count.value);
    out.Set("byStatus", by_status);
    return out;
  }

  // engine() -> { engine: 'epoll' | 'io_uring', errno, ringFlags }: the engine in use; errno
  // (negative) says why io_uring was asked for and could not be set up, ringFlags which
  // set-up flags the kernel took.
  Napi::Value GetEngine(const Napi::CallbackInfo& info) {
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("engine", core_.engine() == Engine::kIoUring ? "io_uring" : "epoll");
    out.Set("errno", core_.engine_error());
    out.Set("ringFlags", core_.ring_flags());
    return out;
  }

  Napi::Value CloseAll(const Napi::CallbackInfo& info) {
    core_.Shutdown();
    return info.Env().Undefined();
  }

  static void OnTurnDone(void* self) { static_cast<NativeFront*>(self)->Dispatch(); }

  // Tells JavaScript what to fill, which sockets are node:http's now, which to destroy.
  void Dispatch() {
    // What the turn queued on the ring goes to the kernel before JavaScript runs.
    core_.SubmitQueued();
    Outbox& outbox = core_.outbox();
    AccessLog& log = core_.log();
    if (outbox.empty() && log.empty()) return;
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    Napi::Array fills = Napi::Array::New(env, outbox.fills.size() * kFillFields);
    uint32_t base = 0;
    for (const Fill& fill : outbox.fills) {
      fills.Set(base + kFillKey, fill.key);
      fills.Set(base + kFillTarget, fill.target);
      fills.Set(base + kFillAcceptEncoding,
                fill.accept_encoding.has_value() ? Napi::String::New(env, *fill.accept_encoding) : env.Null());
      base += kFillFields;
    }
    auto ids = [&](std::vector<uint32_t>& list) {
      Napi::Array array = Napi::Array::New(env, list.size());
      for (size_t i = 0; i < list.size(); i++) array.Set(static_cast<uint32_t>(i), list[i]);
      list.clear();
      return array;
    };
    Napi::Array hand_overs = ids(outbox.hand_overs);
    Napi::Array closes = ids(outbox.closes);
    outbox.fills.clear();
    Napi::Value log_array = log.empty() ? env.Undefined() : log.Take(env);
    on_events_.MakeCallback(env.Global(), {fills, hand_overs, closes, log_array});
  }

  Napi::Env env_;
  Napi::FunctionReference on_events_;
  Connections core_;
};

}  // namespace

Napi::Function DefineNativeFront(Napi::Env env) { return NativeFront::Define(env); }

}  // namespace zerocopy
