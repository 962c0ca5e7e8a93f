#include <cstring>
#include <time.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include "common/args.h"
#include "exports.h"

namespace zerocopy {

// socket(domain, type, protocol) -> fd | -errno
Napi::Value Socket(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), SyscallResult(socket(IntArg(info, 0), IntArg(info, 1), IntArg(info, 2))));
}

// socketpair(domain, type, protocol) -> [fd, fd] | -errno
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  int fds[2];
  if (socketpair(IntArg(info, 0), IntArg(info, 1), IntArg(info, 2), fds) < 0) return NumberResult(info.Env(), -errno);
  Napi::Array pair = Napi::Array::New(info.Env(), 2);
  pair.Set(0u, fds[0]);
  pair.Set(1u, fds[1]);
  return pair;
}

// setsockoptInt(fd, level, name, value) -> 0 | -errno
Napi::Value SetsockoptInt(const Napi::CallbackInfo& info) {
  int value = IntArg(info, 3);
  return NumberResult(info.Env(),
                      SyscallResult(setsockopt(FdArg(info, 0), IntArg(info, 1), IntArg(info, 2), &value, sizeof value)));
}

// getsockoptInt(fd, level, name) -> value (>= 0) | -errno
// Only for options whose value is a non-negative int (flags, sizes, SO_TYPE, SO_DOMAIN).
Napi::Value GetsockoptInt(const Napi::CallbackInfo& info) {
  int value = 0;
  socklen_t size = sizeof value;
  if (getsockopt(FdArg(info, 0), IntArg(info, 1), IntArg(info, 2), &value, &size) < 0) {
    return NumberResult(info.Env(), -errno);
  }
  return NumberResult(info.Env(), value);
}

// setsockoptBytes(fd, level, name, bytes) -> 0 | -errno  (e.g. TCP_ULP "tls")
Napi::Value SetsockoptBytes(const Napi::CallbackInfo& info) {
  ByteRange bytes = BytesArg(info, 3);
  return NumberResult(info.Env(), SyscallResult(setsockopt(FdArg(info, 0), IntArg(info, 1), IntArg(info, 2),
                                                           bytes.data, static_cast<socklen_t>(bytes.length))));
}

// send(fd, bytes, flags) -> bytes sent | -errno
Napi::Value Send(const Napi::CallbackInfo& info) {
  ByteRange bytes = BytesArg(info, 1);
  return NumberResult(info.Env(), SyscallResult(send(FdArg(info, 0), bytes.data, bytes.length, IntArg(info, 2))));
}

// sendSegments(fd, bytes, flags, segmentBytes) -> bytes sent | -errno
// One sendmsg(2) of `bytes` with a UDP_SEGMENT control message: the kernel cuts it into
// datagrams of `segmentBytes` (the last one shorter), sent as one GSO packet. The segment size
// rides on this call rather than on the socket (setsockopt), so the socket's other senders are
// left as they were.
Napi::Value SendSegments(const Napi::CallbackInfo& info) {
  ByteRange bytes = BytesArg(info, 1);
  int segment = IntArg(info, 3);
  if (segment <= 0 || segment > UINT16_MAX) return NumberResult(info.Env(), -EINVAL);
  struct iovec vector = {bytes.data, bytes.length};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(uint16_t))] = {};
  struct msghdr message = {};
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  struct cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_UDP;
  header->cmsg_type = UDP_SEGMENT;
  header->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t size = static_cast<uint16_t>(segment);
  memcpy(CMSG_DATA(header), &size, sizeof size);
  return NumberResult(info.Env(), SyscallResult(sendmsg(FdArg(info, 0), &message, IntArg(info, 2))));
}

// disconnect(fd) -> 0 | -errno: connect(2) to AF_UNSPEC. A TCP socket resets (RST) and drops
// its send queue at once, so the kernel lets go of MSG_ZEROCOPY pages it still held, while
// the descriptor stays open to read their completions; a UDP socket forgets its peer.
Napi::Value Disconnect(const Napi::CallbackInfo& info) {
  struct sockaddr address = {};
  address.sa_family = AF_UNSPEC;
  return NumberResult(info.Env(), SyscallResult(connect(FdArg(info, 0), &address, sizeof address)));
}

// readZerocopyCompletions(fd, max) -> [[lo, hi, copied], ...] | -errno
// Drains up to `max` notifications from the socket's error queue without blocking. Each
// covers the MSG_ZEROCOPY sends numbered lo..hi (inclusive, counted per socket from 0);
// `copied` is 1 when the kernel fell back to copying them (SO_EE_CODE_ZEROCOPY_COPIED).
Napi::Value ReadZerocopyCompletions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  int max = IntArg(info, 1);
  Napi::Array completions = Napi::Array::New(env);
  uint32_t count = 0;
  for (int i = 0; i < max; i++) {
    char control[128];
    struct msghdr message = {};
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    if (recvmsg(fd, &message, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (count == 0) return NumberResult(env, -errno);
      break;
    }
    for (struct cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      bool ip = (header->cmsg_level == SOL_IP && header->cmsg_type == IP_RECVERR) ||
                (header->cmsg_level == SOL_IPV6 && header->cmsg_type == IPV6_RECVERR);
      if (!ip) continue;
      auto* error = reinterpret_cast<struct sock_extended_err*>(CMSG_DATA(header));
      if (error->ee_origin != SO_EE_ORIGIN_ZEROCOPY || error->ee_errno != 0) continue;
      Napi::Array entry = Napi::Array::New(env, 3);
      entry.Set(0u, Napi::Number::New(env, error->ee_info));
      entry.Set(1u, Napi::Number::New(env, error->ee_data));
      entry.Set(2u, Napi::Number::New(env, (error->ee_code & SO_EE_CODE_ZEROCOPY_COPIED) ? 1 : 0));
      completions.Set(count++, entry);
    }
  }
  return completions;
}

}  // namespace zerocopy
