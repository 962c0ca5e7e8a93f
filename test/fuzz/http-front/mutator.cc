#include "mutator.h"

#include <strings.h>

#include <string_view>

namespace fuzz {

namespace {

// Valid heads the front answers itself (and a few it hands over), each field it reads at least
// once, in the spellings clients use.
const std::vector<std::string> kCorpus = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /index.html HTTP/1.0\r\n\r\n",
    "GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "HEAD /a/b.css HTTP/1.0\r\nHost: example.com\r\nConnection: Keep-Alive\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: localhost:8080\r\nRange: bytes=0-99\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=-500\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=100-\r\nIf-Range: \"abc-123\"\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=5-2\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1,5-9\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: items=0-4\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"abc-123\"\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: h\r\nIf-None-Match: W/\"abc-123\", \"def\"\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: h\r\nIf-None-Match: *\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
    "Cache-Control: no-cache\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"a\"\r\nIf-Modified-Since: Tue, 29 Feb 2000 12:00:00 GMT\r\n"
    "Cache-Control: max-age=0\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\n\r\n",
    "GET /x HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n",
    "GET /x.js?v=1&y=%20 HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/8.0\r\nReferer: http://h/\r\n"
    "Accept: */*\r\nAccept-Encoding: br;q=1.0, gzip;q=0.5, *;q=0\r\n\r\n",
    "GET / HTTP/1.1\r\nhost: h\r\nconnection: CLOSE\r\nrange: BYTES=1-2\r\nif-range: \"x\"\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nIf-Match: \"a\"\r\nIf-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tab:\tv\t\r\nX-Obs: \x80\xff\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nConnection: close, keep-alive\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nCache-Control: no-cache\r\nIf-None-Match: \"a\"\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
};

// Pieces that mean something to one of the two parsers.
const std::vector<std::string_view> kTokens = {
    "GET", "HEAD", "POST", " ", "/", "HTTP/1.0", "HTTP/1.1", "HTTP/1.2", "HTTP/0.9", "\r\n", "\r\n\r\n", ":", ",", ";",
    "=", "-", "\"", "W/", "*", "close", "keep-alive", "Keep-Alive", "upgrade", "chunked", "bytes", "GMT",
    "Host", "Connection", "Proxy-Connection", "Range", "If-Range", "If-None-Match", "If-Modified-Since",
    "Cache-Control", "no-cache", "Accept-Encoding", "Content-Length", "Transfer-Encoding", "Upgrade", "Expect",
    "If-Match", "If-Unmodified-Since", "User-Agent", "Referer", "Sun, 06 Nov 1994 08:49:37 GMT", "%00", "?", "#",
    std::string_view("\0", 1), "\x7f", "\x80", "\xa0", "\xff",
};

// Whole field lines to add.
const std::vector<std::string_view> kLines = {
    "Host: h\r\n", "Host: other\r\n", "Connection: close\r\n", "Connection: keep-alive\r\n",
    "Connection: close\t\r\n", "Connection:close\r\n", "Connection: Upgrade\r\n", "Connection: close, x\r\n",
    "Proxy-Connection: close\r\n", "Proxy-Connection: keep-alive\r\n", "Range: bytes=0-1\r\n",
    "Range: bytes=-1\r\n", "Range: bytes=18446744073709551615-\r\n", "If-Range: \"x\"\r\n",
    "If-None-Match: \"x\"\r\n", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
    "Cache-Control: no-cache\r\n", "Accept-Encoding: gzip\r\n", "Content-Length: 0\r\n",
    "Content-Length: 1\r\n", "Transfer-Encoding: chunked\r\n", "Transfer-Encoding: identity\r\n",
    "Upgrade: h2c\r\n", "Expect: 100-continue\r\n", "X: y\r\n", " folded\r\n", "\tfolded\r\n", "X : y\r\n",
    "X\t: y\r\n", ": novalue\r\n", "NoColon\r\n", "X: a\rb\r\n", "X: a\nb\r\n", "X-Long: " "aaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
};

// Values of the fields the answer depends on, each set in place of the request's own (so that
// the request stays one the front answers), for http_conditions.cc's edges.
const std::vector<std::string_view> kSelectingLines = {
    "Range: bytes=0-\r\n", "Range: bytes=-0\r\n", "Range: bytes=-1\r\n", "Range: bytes=0-0\r\n",
    "Range: bytes= 0-1\r\n", "Range: bytes=1-1 ,\r\n", "Range: Bytes =0-0\r\n", "Range: bytes=00-01\r\n",
    "Range: bytes=\t1-2\r\n", "Range: bytes=99-\r\n", "Range: bytes=100-\r\n", "Range: bytes=-100\r\n",
    "Range: bytes=-101\r\n", "Range: bytes=499-499\r\n", "Range: bytes=500-500\r\n", "Range: bytes=1-0\r\n",
    "Range: bytes=0-999999999999999\r\n", "Range: bytes=0-1000000000000000\r\n", "Range: bytes=-1099511627776\r\n",
    "Range: bytes=1099511627775-\r\n", "Range: bytes==0-1\r\n", "Range: =0-1\r\n", "Range: bytes\r\n",
    "If-Range: W/\"abc-123\"\r\n", "If-Range: \"abc-123\"\r\n", "If-Range: \"abc-123\r\n",
    "If-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n", "If-Range: Sun, 06 Nov 1994 08:49:38 GMT\r\n",
    "If-Range: Sun, 06 Nov 1994 08:49:37 gmt\r\n", "If-Range: 784111777000\r\n", "If-Range: \r\n",
    "If-None-Match: \"x\" , W/\"abc-123\"\r\n", "If-None-Match: ,\r\n", "If-None-Match: \"abc-123\",\r\n",
    "If-None-Match: W/\"\"\r\n", "If-None-Match: \"\"\r\n", "If-None-Match:  *\r\n", "If-None-Match: *, \"x\"\r\n",
    "If-None-Match: \"abc-123\"\t\"x\"\r\n", "If-None-Match: W/W/\"abc-123\"\r\n", "If-None-Match: \r\n",
    "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", "If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n",
    "If-Modified-Since: Sun, 06 Nov 1994 08:49:38 GMT\r\n", "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n",
    "If-Modified-Since: Sun Nov  6 08:49:37 1994\r\n", "If-Modified-Since: Fri, 31 Dec 9999 23:59:59 GMT\r\n",
    "If-Modified-Since: Wed, 31 Dec 1969 23:59:59 GMT\r\n", "If-Modified-Since: Tue, 29 Feb 2000 12:00:00 GMT\r\n",
    "If-Modified-Since: Mon, 29 Feb 2100 00:00:00 GMT\r\n", "If-Modified-Since: 0\r\n",
    "Cache-Control: no-cache, max-age=0\r\n", "Cache-Control: No-Cache\r\n", "Cache-Control: private,no-cache\r\n",
    "Cache-Control: no-cache=\"x\"\r\n", "Cache-Control: \tno-cache\t\r\n", "Cache-Control: x, no-cache ,y\r\n",
    "Cache-Control: no-cachex\r\n", "Cache-Control:\r\n",
};

const std::vector<std::string_view> kWhitespace = {
    " ", "\t", "\r", "\n", "\r\n", std::string_view("\0", 1), " \t", "\x0b", "\x0c", "  ", "\n\n", "\r\r",
};

const std::vector<std::string_view> kNumbers = {
    "0", "1", "-1", "00", "4294967295", "4294967296", "9007199254740991", "9007199254740993",
    "999999999999999", "9999999999999999", "18446744073709551615", "18446744073709551616",
    "000000000000000000000000001", "99999999999999999999999999999999999999", "+1", "1e3", "0x10",
};

template <typename T>
const T& Pick(Rng& rng, const std::vector<T>& from) {
  return from[rng.Below(from.size())];
}

// Where the field lines of `text` begin: after the first CRLF, or 0.
size_t FirstLine(const std::string& text) {
  size_t crlf = text.find("\r\n");
  return crlf == std::string::npos ? 0 : crlf + 2;
}

// A line of `text` (from, to], with its CRLF; false if it has none.
bool PickLine(Rng& rng, const std::string& text, size_t* from, size_t* to) {
  std::vector<size_t> starts;
  for (size_t at = 0; at < text.size();) {
    size_t crlf = text.find("\r\n", at);
    if (crlf == std::string::npos) break;
    starts.push_back(at);
    at = crlf + 2;
  }
  if (starts.empty()) return false;
  *from = Pick(rng, starts);
  *to = text.find("\r\n", *from) + 2;
  return true;
}

// A position in [0, size], biased towards the head's end, where the interesting fields are.
size_t Position(Rng& rng, const std::string& text) {
  if (!text.empty() && rng.OneIn(3)) {
    size_t end = text.find("\r\n\r\n");
    if (end != std::string::npos) return end + rng.Below(5);
  }
  return rng.Below(text.size() + 1);
}

void Mutate(Rng& rng, std::string& text) {
  switch (rng.Below(15)) {
    case 0:  // flip a bit
      if (!text.empty()) text[rng.Below(text.size())] ^= static_cast<char>(1 << rng.Below(8));
      break;
    case 1:  // set a byte to anything
      if (!text.empty()) text[rng.Below(text.size())] = static_cast<char>(rng.Below(256));
      break;
    case 2:  // insert random bytes
      text.insert(Position(rng, text), std::string(1 + rng.Below(3), static_cast<char>(rng.Below(256))));
      break;
    case 3: {  // delete a few bytes
      if (text.empty()) break;
      size_t at = rng.Below(text.size());
      text.erase(at, 1 + rng.Below(rng.OneIn(4) ? 16 : 2));
      break;
    }
    case 4:  // truncate
      text.resize(rng.Below(text.size() + 1));
      break;
    case 5: {  // splice with another corpus entry
      const std::string& other = Pick(rng, kCorpus);
      text = text.substr(0, rng.Below(text.size() + 1)) + other.substr(rng.Below(other.size() + 1));
      break;
    }
    case 6: {  // duplicate a line
      size_t from, to;
      if (PickLine(rng, text, &from, &to)) text.insert(to, text.substr(from, to - from));
      break;
    }
    case 7: {  // remove a line
      size_t from, to;
      if (PickLine(rng, text, &from, &to)) text.erase(from, to - from);
      break;
    }
    case 8: {  // add a field line
      size_t at = FirstLine(text);
      if (rng.OneIn(2)) {
        size_t end = text.find("\r\n\r\n");
        if (end != std::string::npos) at = end + 2;
      }
      text.insert(at, Pick(rng, kLines));
      break;
    }
    case 9:  // whitespace, CR, LF or NUL
      text.insert(Position(rng, text), Pick(rng, kWhitespace));
      break;
    case 10: {  // replace a run of digits with a large or odd number
      std::vector<size_t> runs;
      for (size_t i = 0; i < text.size(); i++) {
        if (text[i] >= '0' && text[i] <= '9' && (i == 0 || text[i - 1] < '0' || text[i - 1] > '9')) runs.push_back(i);
      }
      if (runs.empty()) break;
      size_t at = Pick(rng, runs);
      size_t end = at;
      while (end < text.size() && text[end] >= '0' && text[end] <= '9') end++;
      text.replace(at, end - at, Pick(rng, kNumbers));
      break;
    }
    case 11:  // a token somewhere
      text.insert(Position(rng, text), Pick(rng, kTokens));
      break;
    case 12: {  // replace a token with another
      const std::string_view& from = Pick(rng, kTokens);
      size_t at = text.find(from);
      if (at != std::string::npos) text.replace(at, from.size(), Pick(rng, kTokens));
      break;
    }
    case 14: {  // set a field that selects the answer
      std::string_view line = Pick(rng, kSelectingLines);
      std::string name(line.substr(0, line.find(':') + 1));
      size_t from, to;
      for (size_t at = FirstLine(text); at < text.size(); at = to) {
        from = at;
        to = text.find("\r\n", at);
        if (to == std::string::npos || to == at) break;
        to += 2;
        if (strncasecmp(text.data() + from, name.data(), name.size()) == 0) {
          text.replace(from, to - from, line);
          return;
        }
      }
      text.insert(FirstLine(text), line);
      break;
    }
    default:  // flip the case of a letter
      for (int tries = 0; tries < 8 && !text.empty(); tries++) {
        char& c = text[rng.Below(text.size())];
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
          c ^= 0x20;
          break;
        }
      }
      break;
  }
}

}  // namespace

const std::vector<std::string>& Corpus() { return kCorpus; }

std::string MakeInput(Rng& rng) {
  std::string text = Pick(rng, kCorpus);
  if (rng.OneIn(4)) {
    // Pipelined: the second request is what a keep-alive connection reads next.
    int more = 1 + static_cast<int>(rng.Below(3));
    for (int i = 0; i < more; i++) text += Pick(rng, kCorpus);
  }
  if (rng.OneIn(32)) {
    // Many fields: node:http hands a head over in pieces of 32 fields (kOnHeaders) and puts
    // only the first 1000 into req.headers.
    static constexpr size_t kCounts[] = {1, 31, 32, 33, 998, 999, 1000, 1001};
    size_t count = rng.OneIn(4) ? rng.Below(1100) : kCounts[rng.Below(8)];
    std::string_view line = rng.OneIn(2) ? "a:\r\n" : "X-Pad: 1\r\n";
    std::string lines;
    for (size_t i = 0; i < count; i++) lines.append(line);
    text.insert(FirstLine(text), lines);
  }
  int mutations = static_cast<int>(rng.Below(7));
  for (int i = 0; i < mutations; i++) Mutate(rng, text);
  return text;
}

std::string MakeDate(Rng& rng) {
  static const std::vector<std::string> kDates = {
      "Sun, 06 Nov 1994 08:49:37 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "Tue, 29 Feb 2000 23:59:59 GMT",
      "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 29 Feb 2100 00:00:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
  };
  std::string date = Pick(rng, kDates);
  int mutations = static_cast<int>(rng.Below(4));
  for (int i = 0; i < mutations; i++) {
    if (rng.OneIn(2) && !date.empty()) {
      date[rng.Below(date.size())] = static_cast<char>(rng.OneIn(2) ? '0' + rng.Below(10) : rng.Below(256));
    } else {
      Mutate(rng, date);
    }
  }
  return date;
}

std::string MakeEtag(Rng& rng) {
  static const std::vector<std::string> kEtags = {"\"abc-123\"", "W/\"abc-123\"", "\"x\"", "\"a\"", "\"\"", "W/\"\"", "*"};
  std::string etag = Pick(rng, kEtags);
  if (rng.OneIn(8)) Mutate(rng, etag);
  return etag;
}

}  // namespace fuzz
