#include "front/http_request.h"

#include <string.h>

namespace zerocopy {

namespace {

// RFC 9110 tchar.
bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Field-value octets: VCHAR, SP, HTAB and obs-text, as llhttp accepts them.
bool IsValueChar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool EqualsLower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); i++) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
    if (c != lower[i]) return false;
  }
  return true;
}

// Header fields whose presence sends the request to node:http: it carries a body or asks for
// another protocol, or has a precondition that can only fail here with 412, which is rare
// enough to leave to JavaScript.
bool NeedsNodeHttp(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "if-match", "if-unmodified-since", "content-length", "transfer-encoding", "expect", "upgrade",
  };
  for (std::string_view candidate : kNames) {
    if (EqualsLower(name, candidate)) return true;
  }
  return false;
}

// Whether `text` begins with `lower`, letters compared as llhttp compares them (A-Z folded).
bool StartsWithLower(std::string_view text, std::string_view lower) {
  return text.size() >= lower.size() && EqualsLower(text.substr(0, lower.size()), lower);
}

// The options of a Connection or Proxy-Connection field (`raw`: all of its value, untrimmed,
// whose octets IsValueChar() accepted), read exactly as llhttp 9 reads them (its states
// header_value_connection, _ws and _token), since node:http keeps or closes the connection
// on what llhttp found. A token counts only when the value or the token starts with it after
// spaces and tabs, and only spaces, never tabs, may follow it before the next comma or the end:
// "close\t", "closed" and "x close" are no close. Other tokens ("upgrade", "foo") change nothing.
void ReadConnectionOptions(std::string_view raw, bool* close, bool* keep_alive) {
  enum class State { kTokenStart, kAfterKnown, kOther } state = State::kTokenStart;
  bool* known = nullptr;  // the flag the token just read sets, if it stands alone
  size_t i = 0;
  while (i < raw.size()) {
    char c = raw[i];
    if (state == State::kTokenStart) {
      if (c == ' ' || c == '\t') {
        i++;
      } else if (StartsWithLower(raw.substr(i), "close")) {
        known = close;
        i += 5;
        state = State::kAfterKnown;
      } else if (StartsWithLower(raw.substr(i), "keep-alive")) {
        known = keep_alive;
        i += 10;
        state = State::kAfterKnown;
      } else if (StartsWithLower(raw.substr(i), "upgrade")) {
        known = nullptr;  // matters only with an Upgrade field, which goes to node:http anyway
        i += 7;
        state = State::kAfterKnown;
      } else {
        state = State::kOther;  // this octet is read as part of an unknown token
      }
    } else if (state == State::kAfterKnown) {
      if (c == ',') {
        if (known != nullptr) *known = true;
        state = State::kTokenStart;
        i++;
      } else if (c == ' ') {
        i++;
      } else {
        state = State::kOther;  // this octet is read as part of an unknown token
      }
    } else {
      if (c == ',') state = State::kTokenStart;
      i++;
    }
  }
  if (state == State::kAfterKnown && known != nullptr) *known = true;
}

// The field of `request` that keeps the value of `name`, if it is one that selects the answer.
std::optional<std::string_view>* SelectingField(std::string_view name, PlainRequest* request) {
  if (EqualsLower(name, "range")) return &request->range;
  if (EqualsLower(name, "if-range")) return &request->if_range;
  if (EqualsLower(name, "if-none-match")) return &request->if_none_match;
  if (EqualsLower(name, "if-modified-since")) return &request->if_modified_since;
  if (EqualsLower(name, "cache-control")) return &request->cache_control;
  return nullptr;
}

}  // namespace

ParseOutcome ParsePlainRequest(const char* bytes, size_t size, size_t max_head, PlainRequest* out) {
  const char* end = static_cast<const char*>(memmem(bytes, size, "\r\n\r\n", 4));
  if (end == nullptr) return size >= max_head ? ParseOutcome::kHandOver : ParseOutcome::kIncomplete;
  size_t length = static_cast<size_t>(end - bytes) + 4;
  if (length > max_head) return ParseOutcome::kHandOver;
  std::string_view head(bytes, length - 2);  // every line, each with its CRLF

  *out = PlainRequest();
  out->length = length;
  size_t at;
  if (head.compare(0, 4, "GET ") == 0) {
    at = 4;
  } else if (head.compare(0, 5, "HEAD ") == 0) {
    at = 5;
    out->head = true;
  } else {
    return ParseOutcome::kHandOver;
  }
  size_t target_end = head.find(' ', at);
  if (target_end == std::string_view::npos || target_end == at || head[at] != '/') return ParseOutcome::kHandOver;
  for (size_t i = at; i < target_end; i++) {
    unsigned char c = static_cast<unsigned char>(head[i]);
    if (c <= 0x20 || c >= 0x7f) return ParseOutcome::kHandOver;
  }
  out->target = head.substr(at, target_end - at);
  out->http10 = head.compare(target_end, 11, " HTTP/1.0\r\n") == 0;
  if (!out->http10 && head.compare(target_end, 11, " HTTP/1.1\r\n") != 0) return ParseOutcome::kHandOver;

  int hosts = 0;
  // llhttp's flags, gathered over every Connection and Proxy-Connection field.
  bool close = false;
  bool keep_alive = false;
  size_t line = target_end + 11;
  while (line < head.size()) {
    size_t cr = head.find('\r', line);
    // head ends with a line's CRLF, so a CR found in it always has a byte after it in `bytes`.
    if (cr == std::string_view::npos || bytes[cr + 1] != '\n') return ParseOutcome::kHandOver;
    std::string_view field = head.substr(line, cr - line);
    line = cr + 2;
    size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return ParseOutcome::kHandOver;
    std::string_view name = field.substr(0, colon);
    for (char c : name) {
      if (!IsTokenChar(static_cast<unsigned char>(c))) return ParseOutcome::kHandOver;
    }
    std::string_view value = field.substr(colon + 1);
    for (char c : value) {
      if (!IsValueChar(static_cast<unsigned char>(c))) return ParseOutcome::kHandOver;  // a bare LF or CR included
    }
    if (EqualsLower(name, "connection") || EqualsLower(name, "proxy-connection")) {
      // llhttp 9.3 (Node 20) reads "close<TAB>" as an unknown token, 9.4 (Node 22, 24) as
      // close: whichever Node this is, node:http decides such a value itself.
      if (value.find('\t') != std::string_view::npos) return ParseOutcome::kHandOver;
      ReadConnectionOptions(value, &close, &keep_alive);
      continue;
    }
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);

    if (NeedsNodeHttp(name)) return ParseOutcome::kHandOver;
    if (std::optional<std::string_view>* selecting = SelectingField(name, out)) {
      // node:http joins some repeated fields and drops others; either way, its call.
      if (selecting->has_value()) return ParseOutcome::kHandOver;
      *selecting = value;
    } else if (EqualsLower(name, "host")) {
      hosts++;
    } else if (EqualsLower(name, "accept-encoding")) {
      if (out->has_accept_encoding) return ParseOutcome::kHandOver;
      out->has_accept_encoding = true;
      out->accept_encoding = value;
    } else if (EqualsLower(name, "origin")) {
      out->has_origin = true;
    } else if (EqualsLower(name, "user-agent")) {
      if (out->user_agent.data() == nullptr) out->user_agent = value;
    } else if (EqualsLower(name, "referer")) {
      if (out->referer.data() == nullptr) out->referer = value;
    }
  }
  if (out->http10) {
    // HTTP/1.0 has no Host requirement; its connections persist only when asked to
    // (RFC 9112 9.3; node:http answers such a request with Connection: keep-alive). As in
    // llhttp_should_keep_alive(), keep-alive wins over close in 1.0, and close alone counts in 1.1.
    if (hosts > 1) return ParseOutcome::kHandOver;
    out->close = !keep_alive;
  } else if (hosts != 1) {
    // node:http answers an HTTP/1.1 request without exactly one Host with 400 (requireHostHeader).
    return ParseOutcome::kHandOver;
  } else {
    out->close = close;
  }
  return ParseOutcome::kComplete;
}

}  // namespace zerocopy
