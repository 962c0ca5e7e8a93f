// Which answer a plain GET or HEAD gets from a cached 200 of a file when it carries Range or
// conditions: the whole file, 304 Not Modified, or 206 with one range. The rules are
// src/http/write-response.ts's (RFC 9110 §13.2.2's order; fresh for If-None-Match and
// If-Modified-Since, range-parser for Range). Only what this side is sure to answer exactly
// as JavaScript would is decided here; the rest is kHandOver and goes to node:http: several
// ranges, 416, a date not in IMF-fixdate form (Date.parse reads many more), values with
// non-ASCII bytes, numbers past 15 digits, a zero-length file.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "front/http_request.h"

namespace zerocopy {

// What the cached 200 says of the file.
struct Validators {
  std::optional<std::string_view> etag;
  std::optional<int64_t> last_modified_ms;  // Last-Modified, as Date.parse reads it
  bool accept_ranges = false;
  uint64_t size = 0;
};

struct Answer {
  enum Kind { kWhole, kNotModified, kPartial, kHandOver } kind = kWhole;
  uint64_t first = 0, last = 0;  // kPartial: the bytes [first, last]
};

Answer ChooseAnswer(const PlainRequest& request, const Validators& validators);

// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as milliseconds since the epoch; nothing
// for any other form, or a date that does not exist.
std::optional<int64_t> ParseImfFixdate(std::string_view text);

}  // namespace zerocopy
