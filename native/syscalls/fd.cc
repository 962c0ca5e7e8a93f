#include <fcntl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/args.h"
#include "exports.h"

namespace zerocopy {

// fcntl(fd, cmd, arg) -> result | -errno
// Only the commands whose argument and result are plain ints: a pointer-taking command
// (F_SETLK, F_GETOWN_EX, ...) must never be reachable from JavaScript.
Napi::Value Fcntl(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0), command = IntArg(info, 1), argument = IntArg(info, 2);
  switch (command) {
    case F_GETFL:
    case F_SETFL:
    case F_GETFD:
    case F_SETFD:
    case F_DUPFD_CLOEXEC:
    case F_GETPIPE_SZ:
    case F_SETPIPE_SZ:
    case F_ADD_SEALS:
    case F_GET_SEALS:
      return NumberResult(info.Env(), SyscallResult(fcntl(fd, command, argument)));
    default:
      return NumberResult(info.Env(), -EINVAL);
  }
}

// close(fd) -> 0 | -errno
Napi::Value Close(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), SyscallResult(close(FdArg(info, 0))));
}

// fadvise(fd, offset, length, advice) -> 0 | -errno  (posix_fadvise returns the error itself)
Napi::Value Fadvise(const Napi::CallbackInfo& info) {
  int error = posix_fadvise(FdArg(info, 0), Int64Arg(info, 1), Int64Arg(info, 2), IntArg(info, 3));
  return NumberResult(info.Env(), -error);
}

// readahead(fd, offset, count) -> 0 | -errno
Napi::Value Readahead(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), SyscallResult(readahead(FdArg(info, 0), Int64Arg(info, 1), SizeArg(info, 2))));
}

// fileSystemType(fd) -> statfs f_type (a magic number such as 0xEF53 for ext4) | -errno
Napi::Value FileSystemType(const Napi::CallbackInfo& info) {
  struct statfs stats;
  if (fstatfs(FdArg(info, 0), &stats) < 0) return NumberResult(info.Env(), -errno);
  return NumberResult(info.Env(), static_cast<int64_t>(static_cast<uint32_t>(stats.f_type)));
}

}  // namespace zerocopy
