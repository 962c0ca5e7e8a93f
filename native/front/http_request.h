// The one request shape the native front answers by itself: a complete HTTP/1.1 (or 1.0)
// GET or HEAD in origin form, with one Host (at most one in 1.0), no body, no upgrade, and
// at most one each of the fields that select a 206 or a 304 (Range, If-Range, If-None-Match,
// If-Modified-Since, and Cache-Control, which can veto a 304); If-Match and
// If-Unmodified-Since are left to node:http. Anything else, including everything merely
// unusual, is `kHandOver`: node:http's parser (llhttp) then reads the same bytes and answers
// as it always does, so this parser never has to be as complete as llhttp, only never more
// lenient. What the selecting fields mean is http_conditions.h's.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace zerocopy {

enum class ParseOutcome { kComplete, kIncomplete, kHandOver };

struct PlainRequest {
  size_t length = 0;  // bytes of the request head, final CRLF CRLF included
  bool head = false;  // HEAD rather than GET
  bool http10 = false;  // HTTP/1.0 rather than 1.1
  // node:http closes after the response: "close" among the Connection (or Proxy-Connection)
  // options of an HTTP/1.1 request, no "keep-alive" among those of an HTTP/1.0 one.
  bool close = false;
  bool has_accept_encoding = false;
  bool has_origin = false;  // an Origin field (a cross-origin request)
  std::string_view target;
  std::string_view accept_encoding;
  // Trimmed of surrounding whitespace, as node:http hands them to JavaScript.
  std::optional<std::string_view> range, if_range, if_none_match, if_modified_since, cache_control;
  // For the access log; the first of each, as node:http keeps it.
  std::string_view user_agent;
  std::string_view referer;
};

// Parses the request at the start of bytes[0, size). `max_head` bounds the head as node:http's
// maxHeaderSize does; a longer one is handed over for node:http to refuse.
ParseOutcome ParsePlainRequest(const char* bytes, size_t size, size_t max_head, PlainRequest* out);

}  // namespace zerocopy
