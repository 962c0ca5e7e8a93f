#include "front/http_conditions.h"

#include <strings.h>

#include <cstring>

namespace zerocopy {

namespace {

constexpr size_t kNpos = std::string_view::npos;
// decideRange() in src/http/range.ts ignores a longer Range.
constexpr size_t kMaxRangeHeader = 4096;
// Past this, range-parser's Number() loses integers; such a file does not exist anyway.
constexpr size_t kMaxPositionDigits = 15;

// JavaScript reads these values as latin1, where 0xA0 is a space to its \s and trim().
bool Ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

std::string_view TrimSpace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool StartsWith(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// fresh's /(?:^|,)\s*?no-cache\s*?(?:,|$)/: a list item that is exactly no-cache, case and all.
bool SaysNoCache(std::string_view cache_control) {
  for (size_t at = 0;;) {
    size_t comma = cache_control.find(',', at);
    if (TrimSpace(cache_control.substr(at, comma == kNpos ? kNpos : comma - at)) == "no-cache") return true;
    if (comma == kNpos) return false;
    at = comma + 1;
  }
}

// fresh's comparison of an If-None-Match token with the ETag: equal, or equal but for one W/.
bool NoneMatchHits(std::string_view token, std::string_view etag) {
  if (token == etag) return true;
  if (token.size() == etag.size() + 2 && StartsWith(token, "W/") && token.substr(2) == etag) return true;
  return etag.size() == token.size() + 2 && StartsWith(etag, "W/") && etag.substr(2) == token;
}

// fresh's parseTokenList, which splits at commas and drops spaces (not tabs) around tokens,
// asked whether any token hits.
bool AnyTokenHits(std::string_view list, std::string_view etag) {
  size_t start = 0, end = 0;
  for (size_t i = 0; i < list.size(); i++) {
    if (list[i] == ' ') {
      if (start == end) start = end = i + 1;
    } else if (list[i] == ',') {
      if (NoneMatchHits(list.substr(start, end - start), etag)) return true;
      start = end = i + 1;
    } else {
      end = i + 1;
    }
  }
  return NoneMatchHits(list.substr(start, end - start), etag);
}

enum class Verdict { kNo, kYes, kUnsure };

// fresh(): whether the client's copy is current, so that the answer is 304.
Verdict Fresh(const PlainRequest& request, const Validators& validators) {
  // An empty value is falsy to fresh, as if the field were absent.
  std::string_view none_match = request.if_none_match.value_or("");
  std::string_view modified_since = request.if_modified_since.value_or("");
  if (none_match.empty() && modified_since.empty()) return Verdict::kNo;
  if (request.cache_control.has_value()) {
    if (!Ascii(*request.cache_control)) return Verdict::kUnsure;
    if (SaysNoCache(*request.cache_control)) return Verdict::kNo;
  }
  if (!none_match.empty()) {
    // If-Modified-Since is not looked at when If-None-Match is there.
    if (none_match == "*") return Verdict::kYes;
    if (!validators.etag.has_value()) return Verdict::kNo;
    return AnyTokenHits(none_match, *validators.etag) ? Verdict::kYes : Verdict::kNo;
  }
  if (!validators.last_modified_ms.has_value()) return Verdict::kNo;
  std::optional<int64_t> since = ParseImfFixdate(modified_since);
  if (!since.has_value()) return Verdict::kUnsure;
  return *validators.last_modified_ms <= *since ? Verdict::kYes : Verdict::kNo;
}

// rangeStillValid(): whether If-Range lets the Range apply. A tag must match strongly, a date
// must equal Last-Modified.
Verdict RangeStillValid(const PlainRequest& request, const Validators& validators) {
  if (!request.if_range.has_value()) return Verdict::kYes;
  std::string_view value = *request.if_range;
  if (!Ascii(value)) return Verdict::kUnsure;
  if (StartsWith(value, "\"") || StartsWith(value, "W/")) {
    bool strong = validators.etag.has_value() && !StartsWith(value, "W/") && !StartsWith(*validators.etag, "W/");
    return strong && value == *validators.etag ? Verdict::kYes : Verdict::kNo;
  }
  if (value.empty()) return Verdict::kNo;  // Date.parse('') is NaN
  std::optional<int64_t> date = ParseImfFixdate(value);
  if (!date.has_value()) return Verdict::kUnsure;
  return validators.last_modified_ms.has_value() && *date == *validators.last_modified_ms ? Verdict::kYes
                                                                                         : Verdict::kNo;
}

bool ParsePosition(std::string_view digits, uint64_t* out) {
  if (digits.size() > kMaxPositionDigits) return false;
  uint64_t value = 0;
  for (char c : digits) value = value * 10 + static_cast<uint64_t>(c - '0');
  *out = value;
  return true;
}

bool AllDigits(std::string_view text) {
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// decideRange() for one byte-range-spec; several go to node:http (multipart/byteranges).
Answer ChooseRange(std::string_view header, uint64_t size) {
  Answer whole;
  Answer hand_over{Answer::kHandOver};
  if (!Ascii(header)) return hand_over;
  if (header.empty() || header.size() > kMaxRangeHeader) return whole;
  size_t equals = header.find('=');
  if (equals == 0 || equals == kNpos) return whole;
  std::string_view unit = TrimSpace(header.substr(0, equals));
  if (unit.size() != 5 || strncasecmp(unit.data(), "bytes", 5) != 0) return whole;
  if (size == 0) return hand_over;
  std::string_view spec = header.substr(equals + 1);
  if (spec.find(',') != kNpos) return hand_over;
  spec = TrimSpace(spec);
  size_t dash = spec.find('-');
  if (dash == kNpos) return whole;
  std::string_view first_digits = spec.substr(0, dash);
  std::string_view last_digits = spec.substr(dash + 1);
  if (!AllDigits(first_digits) || !AllDigits(last_digits)) return whole;
  if (first_digits.empty() && last_digits.empty()) return whole;
  uint64_t first = 0, last = 0;
  if (!ParsePosition(first_digits, &first) || !ParsePosition(last_digits, &last)) return hand_over;
  Answer partial{Answer::kPartial};
  if (first_digits.empty()) {
    // The last `last` bytes; more than the file has is all of it (RFC 9110 §14.1.3).
    if (last == 0) return hand_over;  // 416
    partial.first = last >= size ? 0 : size - last;
    partial.last = size - 1;
    return partial;
  }
  if (!last_digits.empty() && last < first) return whole;  // an invalid spec makes the field ignored
  partial.first = first;
  partial.last = last_digits.empty() ? size - 1 : std::min(last, size - 1);
  if (partial.first > partial.last) return hand_over;  // 416
  return partial;
}

bool TwoDigits(std::string_view text, size_t at, int* out) {
  if (text[at] < '0' || text[at] > '9' || text[at + 1] < '0' || text[at + 1] > '9') return false;
  *out = (text[at] - '0') * 10 + (text[at + 1] - '0');
  return true;
}

// Days from 1970-01-01 to a civil date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2;
  int64_t era = year / 400;
  int64_t year_of_era = year - era * 400;
  int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

}  // namespace

std::optional<int64_t> ParseImfFixdate(std::string_view text) {
  static constexpr const char* kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};  // from 1970-01-01
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' || text[16] != ' ' ||
      text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT")
    return std::nullopt;
  int day, century, year_in_century, hour, minute, second;
  if (!TwoDigits(text, 5, &day) || !TwoDigits(text, 12, &century) || !TwoDigits(text, 14, &year_in_century) ||
      !TwoDigits(text, 17, &hour) || !TwoDigits(text, 20, &minute) || !TwoDigits(text, 23, &second))
    return std::nullopt;
  int month = 0;
  while (month < 12 && text.substr(8, 3) != kMonths[month]) month++;
  int year = century * 100 + year_in_century;
  // Date.parse reads years before 1970 by rules of its own; a file's date is never one of them.
  if (month == 12 || year < 1970 || hour > 23 || minute > 59 || second > 59 || day < 1) return std::nullopt;
  static constexpr int kMonthDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kMonthDays[month] || (month == 1 && day == 29 && !leap)) return std::nullopt;
  int64_t days = DaysFromCivil(year, month + 1, day);
  if (text.substr(0, 3) != kDays[days % 7]) return std::nullopt;
  return ((days * 24 + hour) * 60 + minute) * 60'000 + second * 1000;
}

Answer ChooseAnswer(const PlainRequest& request, const Validators& validators) {
  Verdict fresh = Fresh(request, validators);
  if (fresh == Verdict::kUnsure) return {Answer::kHandOver};
  if (fresh == Verdict::kYes) {
    // node:http keeps an HTTP/1.0 connection only after a response with a Content-Length, or
    // a chunked one when the request's TE allows it; a 304 has neither, so it answers
    // "Connection: close" and closes, unless TE says chunked. That rare case is its to answer.
    if (request.http10 && !request.close) return {Answer::kHandOver};
    return {Answer::kNotModified};
  }
  // Range is defined for GET only (RFC 9110 §14.2): HEAD gets the whole file's headers.
  if (request.head || !validators.accept_ranges || !request.range.has_value()) return {};
  Verdict applies = RangeStillValid(request, validators);
  if (applies == Verdict::kUnsure) return {Answer::kHandOver};
  if (applies == Verdict::kNo) return {};
  return ChooseRange(*request.range, validators.size);
}

}  // namespace zerocopy
