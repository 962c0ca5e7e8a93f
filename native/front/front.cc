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

class NativeFront : public Napi::ObjectWrap<NativeFront> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeFront",
                       {InstanceMethod("adopt", &NativeFront::Adopt), InstanceMethod("complete", &NativeFront::Complete),
                        InstanceMethod("sweep", &NativeFront::Sweep), InstanceMethod("drain", &NativeFront::Drain),
                        InstanceMethod("stats", &NativeFront::GetStats), InstanceMethod("close", &NativeFront::CloseAll)});
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

  // sweep(idleMs, stalledMs): closes keep-alive connections idle this long between requests,
  // and connections whose output made no progress for stalledMs (a reader that stopped).
  Napi::Value Sweep(const Napi::CallbackInfo& info) {
    uint64_t idle = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
    uint64_t stalled = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
    core_.Sweep(idle, stalled);
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
    out.Set("connectionsAdopted", stats.adopted);
    out.Set("connectionsOpen", static_cast<double>(core_.open()));
    out.Set("requests", stats.requests);
    out.Set("heads", stats.heads);
    out.Set("responsesMemory", stats.responses_memory);
    out.Set("responsesSendfile", stats.responses_sendfile);
    out.Set("responsesNotModified", stats.not_modified);
    out.Set("responsesPartial", stats.partial);
    out.Set("bodyBytesMemory", stats.body_bytes_memory);
    out.Set("bodyBytesSendfile", stats.body_bytes_sendfile);
    out.Set("fills", stats.fills);
    const CacheStore& store = core_.store();
    out.Set("entries", static_cast<double>(store.size()));
    out.Set("entryKeys", static_cast<double>(store.keys()));
    out.Set("entryBytes", static_cast<double>(store.bytes()));
    out.Set("entryDescriptors", static_cast<double>(store.descriptors()));
    out.Set("entriesEvicted", store.evictions());
    out.Set("handOversRequest", stats.hand_overs_request);
    out.Set("handOversUncached", stats.hand_overs_uncached);
    const DiskReads& disk = core_.disk_reads();
    out.Set("diskReads", disk.started());
    out.Set("diskReadBytes", disk.bytes());
    out.Set("diskReadsDropped", disk.dropped());
    out.Set("diskReadsRunning", static_cast<double>(disk.running()));
    out.Set("diskReadsWaiting", static_cast<double>(disk.waiting()));
    out.Set("handOversShutdown", stats.hand_overs_shutdown);
    out.Set("closedByPeer", stats.closed_by_peer);
    out.Set("closedRequested", stats.closed_requested);
    out.Set("closedIdle", stats.closed_idle);
    out.Set("closedStalled", stats.closed_stalled);
    out.Set("closedError", stats.closed_error);
    return out;
  }

  Napi::Value CloseAll(const Napi::CallbackInfo& info) {
    core_.Shutdown();
    return info.Env().Undefined();
  }

  static void OnTurnDone(void* self) { static_cast<NativeFront*>(self)->Dispatch(); }

  // Tells JavaScript what to fill, which sockets are node:http's now, which to destroy.
  void Dispatch() {
    Outbox& outbox = core_.outbox();
    AccessLog& log = core_.log();
    if (outbox.empty() && log.empty()) return;
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    Napi::Array fills = Napi::Array::New(env, outbox.fills.size());
    for (size_t i = 0; i < outbox.fills.size(); i++) {
      bool encoding_slot = i % 3 == 2;
      fills.Set(static_cast<uint32_t>(i), encoding_slot && !outbox.fill_has_encoding[i / 3]
                                               ? env.Null()
                                               : Napi::String::New(env, outbox.fills[i]));
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
    outbox.fill_has_encoding.clear();
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
