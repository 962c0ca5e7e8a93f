// Fuzz harness for the native front's request parser (native/front/http_request.cc) and its
// 200/304/206 decision (native/front/http_conditions.cc), built with AddressSanitizer and
// UndefinedBehaviorSanitizer by scripts/fuzz-http.sh. Each input sits in a heap buffer of
// exactly its size, and so does every field value handed to the decision, so a read one byte
// past the end is a sanitizer report, not a silent read of the next request's bytes.
//
//   http-front [--seed N] [--count N] [--seconds S] [--emit]
//
// Runs until `count` inputs (0: no bound) or `seconds` have passed, then prints how many ran
// to stderr. With --emit it writes, for every input the front answers at least one request
// of, a record (its layout is in records.ts) to stdout, for check.ts to compare with node:http
// and with the JavaScript that answers the same request.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

#include <cctype>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "front/http_conditions.h"
#include "front/http_request.h"
#include "mutator.h"

namespace {

using zerocopy::Answer;
using zerocopy::ParseOutcome;
using zerocopy::PlainRequest;

constexpr size_t kMaxHead = 16384;  // node:http's default maxHeaderSize, the front's too
// node:http reads only this many fields into req.headers (MAX_HEADER_PAIRS / 2); connection.cc's
// WithinLimits hands a longer head over.
constexpr size_t kMaxHeaderFields = 1000;

// WithinLimits' count: the lines of the head less the request line and the empty last one.
bool TooManyFields(const char* head, size_t length) {
  size_t lines = 0;
  for (size_t i = 0; i < length; i++) lines += head[i] == '\n';
  return lines >= 2 && lines - 2 > kMaxHeaderFields;
}

// Why the front stopped reading an input, as a record says it.
enum Stop : uint8_t { kStopClose = 0, kStopIncomplete = 1, kStopHandOver = 2, kStopEnd = 3 };

struct Stats {
  uint64_t inputs = 0, prefixes = 0, requests = 0, dates = 0, records = 0;
  uint64_t stops[4] = {};
  uint64_t answers[4] = {};
};

Stats stats;
std::string current;  // the input being run, for the death callback

void DumpCurrent() {
  static bool dumped = false;  // a sanitizer's death callback, then its abort()
  if (dumped) return;
  dumped = true;
  fprintf(stderr, "\nfuzz: the input that failed (%zu bytes), as a C string:\n\"", current.size());
  for (size_t i = 0; i < current.size(); i++) {
    unsigned char c = static_cast<unsigned char>(current[i]);
    if (c == '\\' || c == '"') {
      fprintf(stderr, "\\%c", c);
    } else if (c == '\r' || c == '\n' || c == '\t') {
      fprintf(stderr, "%s", c == '\r' ? "\\r" : c == '\n' ? "\\n" : "\\t");
    } else if (c >= 0x20 && c < 0x7f) {
      fputc(c, stderr);
    } else {
      // A hex escape takes every hex digit after it, so one that a digit follows ends the string.
      bool digit_next = i + 1 < current.size() && isxdigit(static_cast<unsigned char>(current[i + 1]));
      fprintf(stderr, digit_next ? "\\x%02x\"\"" : "\\x%02x", c);
    }
  }
  fprintf(stderr, "\"\n");
}

[[noreturn]] void Fail(const char* what) {
  fprintf(stderr, "fuzz: %s\n", what);
  DumpCurrent();
  exit(1);
}

// A copy of `text` in a heap block of its exact size, kept alive by `keep`.
std::string_view ExactCopy(std::string_view text, std::vector<std::unique_ptr<char[]>>& keep) {
  keep.emplace_back(new char[text.size()]);
  if (!text.empty()) memcpy(keep.back().get(), text.data(), text.size());
  return std::string_view(keep.back().get(), text.size());
}

void ExactCopy(std::optional<std::string_view>& field, std::vector<std::unique_ptr<char[]>>& keep) {
  if (field.has_value()) field = ExactCopy(*field, keep);
}

// The cached 200 a request is answered from, and the answer ChooseAnswer gave.
struct Decision {
  std::string etag;  // empty with has_etag false: no ETag
  bool has_etag = false;
  std::optional<int64_t> last_modified_ms;
  bool accept_ranges = false;
  uint64_t size = 0;
  Answer answer;
};

// ChooseAnswer for `request` against a cached file drawn from `rng`, each string in an
// exact-size block of its own.
Decision Decide(const PlainRequest& parsed, fuzz::Rng& rng) {
  std::vector<std::unique_ptr<char[]>> keep;
  PlainRequest request = parsed;
  ExactCopy(request.range, keep);
  ExactCopy(request.if_range, keep);
  ExactCopy(request.if_none_match, keep);
  ExactCopy(request.if_modified_since, keep);
  ExactCopy(request.cache_control, keep);
  Decision decision;
  zerocopy::Validators validators;
  // An empty ETag is none: responder.cc's validators() drops it, as fresh ignores it.
  if (!rng.OneIn(4)) decision.etag = fuzz::MakeEtag(rng);
  if (!decision.etag.empty()) {
    decision.has_etag = true;
    validators.etag = ExactCopy(decision.etag, keep);
  }
  // Whole seconds, as a Last-Modified field can say them (the dates of the corpus and their
  // neighbours), so that check.ts can hand JavaScript the same date as a string.
  static constexpr int64_t kDates[] = {784111777000, 784111776000, 784111778000, 0,
                                       -1000,        951825600000, 951868799000, 253402300799000};
  if (!rng.OneIn(4)) validators.last_modified_ms = kDates[rng.Below(8)];
  validators.accept_ranges = !rng.OneIn(8);
  static constexpr uint64_t kSizes[] = {0, 1, 2, 100, 500, 1 << 20, 1ULL << 40, UINT64_MAX};
  validators.size = kSizes[rng.Below(8)];
  decision.last_modified_ms = validators.last_modified_ms;
  decision.accept_ranges = validators.accept_ranges;
  decision.size = validators.size;

  decision.answer = zerocopy::ChooseAnswer(request, validators);
  stats.answers[decision.answer.kind]++;
  if (decision.answer.kind == Answer::kPartial &&
      (decision.answer.first > decision.answer.last || decision.answer.last >= validators.size)) {
    Fail("ChooseAnswer: a range outside the file");
  }
  return decision;
}

void Put32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; i++) out.push_back(static_cast<char>(value >> (8 * i)));
}

void Put64(std::string& out, uint64_t value) {
  Put32(out, static_cast<uint32_t>(value));
  Put32(out, static_cast<uint32_t>(value >> 32));
}

void PutDecision(std::string& out, const Decision& decision) {
  out.push_back(static_cast<char>(decision.has_etag));
  Put32(out, static_cast<uint32_t>(decision.etag.size()));
  out.append(decision.etag);
  out.push_back(static_cast<char>(decision.last_modified_ms.has_value()));
  Put64(out, static_cast<uint64_t>(decision.last_modified_ms.value_or(0)));
  out.push_back(static_cast<char>(decision.accept_ranges));
  Put64(out, decision.size);
  out.push_back(static_cast<char>(decision.answer.kind));
  Put64(out, decision.answer.first);
  Put64(out, decision.answer.last);
}

void PutSpan(std::string& out, const char* base, std::string_view span, bool present) {
  Put32(out, present ? static_cast<uint32_t>(span.data() - base) : UINT32_MAX);
  Put32(out, present ? static_cast<uint32_t>(span.size()) : 0);
}

// Parses `text` as the front reads a connection's bytes (connection.cc's Serve, for one read):
// request after request while each is complete and keeps the connection open.
void Run(std::string_view text, fuzz::Rng& rng, std::string* record) {
  std::unique_ptr<char[]> bytes(new char[text.size()]);
  if (!text.empty()) memcpy(bytes.get(), text.data(), text.size());
  size_t max_head = rng.OneIn(16) ? 1 + rng.Below(text.size() + 8) : kMaxHead;

  std::string requests;
  uint8_t count = 0;
  size_t consumed = 0;
  Stop stop = kStopEnd;
  while (consumed < text.size()) {
    if (count == 255) {  // as many as a record holds; claim nothing of the rest
      stop = kStopHandOver;
      break;
    }
    PlainRequest request;
    ParseOutcome outcome = zerocopy::ParsePlainRequest(bytes.get() + consumed, text.size() - consumed, max_head, &request);
    if (outcome != ParseOutcome::kComplete) {
      stop = outcome == ParseOutcome::kIncomplete ? kStopIncomplete : kStopHandOver;
      break;
    }
    stats.requests++;
    const char* start = bytes.get() + consumed;
    if (request.length < 18 || request.length > text.size() - consumed || request.length > max_head ||
        request.target.data() < start || request.target.data() + request.target.size() > start + request.length) {
      Fail("ParsePlainRequest: a length or target outside the request");
    }
    Decision decision = Decide(request, rng);
    if (TooManyFields(start, request.length)) {
      stop = kStopHandOver;
      break;
    }
    count++;
    if (record != nullptr) {
      Put32(requests, static_cast<uint32_t>(request.length));
      requests.push_back(static_cast<char>(request.head | request.http10 << 1 | request.close << 2));
      const char* base = bytes.get();
      PutSpan(requests, base, request.target, true);
      for (const std::optional<std::string_view>* field :
           {&request.range, &request.if_range, &request.if_none_match, &request.if_modified_since,
            &request.cache_control}) {
        PutSpan(requests, base, field->value_or(""), field->has_value());
      }
      PutSpan(requests, base, request.accept_encoding, request.has_accept_encoding);
      PutSpan(requests, base, request.user_agent, request.user_agent.data() != nullptr);
      PutSpan(requests, base, request.referer, request.referer.data() != nullptr);
      PutDecision(requests, decision);
    }
    consumed += request.length;
    if (request.close) {
      // connection.cc hands a read with bytes after such a request to node:http, whose llhttp
      // fails on them (or skips them, if they are CR and LF).
      stop = consumed < text.size() ? kStopHandOver : kStopClose;
      break;
    }
  }
  stats.stops[stop]++;
  // A read with a request handed over goes to node:http whole, the requests before it too
  // (connection.cc's Serve), so the front claims nothing of it.
  if (record != nullptr && count > 0 && stop != kStopHandOver) {
    stats.records++;
    Put32(*record, static_cast<uint32_t>(text.size()));
    record->append(text);
    Put32(*record, static_cast<uint32_t>(max_head));
    record->push_back(static_cast<char>(count));
    record->append(requests);
    record->push_back(static_cast<char>(stop));
  }
}

void RunInput(const std::string& text, fuzz::Rng& rng, bool emit) {
  current = text;
  std::string record;
  Run(text, rng, emit ? &record : nullptr);
  if (!record.empty() && fwrite(record.data(), 1, record.size(), stdout) != record.size()) {
    exit(0);  // the reader is gone; it reports why
  }
  stats.inputs++;
}

// Every prefix, one byte longer each time: where a parser reads past what has arrived.
void RunPrefixes(const std::string& text, fuzz::Rng& rng) {
  for (size_t size = 0; size < text.size(); size++) {
    current = text.substr(0, size);
    Run(current, rng, nullptr);
    stats.prefixes++;
  }
}

uint64_t Number(const char* text, const char* name) {
  char* end;
  uint64_t value = strtoull(text, &end, 10);
  if (*text == '\0' || *end != '\0') {
    fprintf(stderr, "fuzz: --%s wants a number, got '%s'\n", name, text);
    exit(2);
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1, count = 0, seconds = 60;
  bool emit = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "--emit") {
      emit = true;
    } else if (i + 1 < argc && (arg == "--seed" || arg == "--count" || arg == "--seconds")) {
      uint64_t value = Number(argv[++i], arg.c_str() + 2);
      (arg == "--seed" ? seed : arg == "--count" ? count : seconds) = value;
    } else {
      fprintf(stderr, "usage: http-front [--seed N] [--count N] [--seconds S] [--emit]\n");
      return 2;
    }
  }
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_set_death_callback(DumpCurrent);
#endif
  // UndefinedBehaviorSanitizer dies without the death callback; with abort_on_error=1 it
  // aborts, and this tells which input did it.
  signal(SIGABRT, [](int) { DumpCurrent(); });
  static char out_buffer[1 << 20];
  setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);

  auto started = std::chrono::steady_clock::now();
  auto deadline = started + std::chrono::seconds(seconds);
  fuzz::Rng rng(seed);
  for (const std::string& text : fuzz::Corpus()) {
    RunInput(text, rng, emit);
    RunPrefixes(text, rng);
  }
  while (count == 0 || stats.inputs < count) {
    if ((stats.inputs & 255) == 0 && std::chrono::steady_clock::now() >= deadline) break;
    std::string text = fuzz::MakeInput(rng);
    RunInput(text, rng, emit);
    if (text.size() <= 1024 && rng.OneIn(64)) RunPrefixes(text, rng);
    current = fuzz::MakeDate(rng);
    std::vector<std::unique_ptr<char[]>> keep;
    zerocopy::ParseImfFixdate(ExactCopy(current, keep));
    stats.dates++;
  }
  fflush(stdout);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fprintf(stderr,
          "fuzz: seed %llu: %llu inputs (+%llu prefixes, %llu dates) in %.1f s, %.0f inputs/min; "
          "%llu requests complete; stops: %llu close, %llu incomplete, %llu hand-over, %llu end; "
          "answers: %llu whole, %llu 304, %llu 206, %llu hand-over; %llu records emitted\n",
          (unsigned long long)seed, (unsigned long long)stats.inputs, (unsigned long long)stats.prefixes,
          (unsigned long long)stats.dates, elapsed, stats.inputs / elapsed * 60, (unsigned long long)stats.requests,
          (unsigned long long)stats.stops[0], (unsigned long long)stats.stops[1], (unsigned long long)stats.stops[2],
          (unsigned long long)stats.stops[3], (unsigned long long)stats.answers[0], (unsigned long long)stats.answers[1],
          (unsigned long long)stats.answers[2], (unsigned long long)stats.answers[3], (unsigned long long)stats.records);
  return 0;
}
