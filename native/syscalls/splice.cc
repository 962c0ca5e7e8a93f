#include <fcntl.h>
#include <unistd.h>

#include "common/args.h"
#include "exports.h"
#include "common/pool.h"

namespace zerocopy {

static int64_t DoSplice(int fd_in, int64_t off_in, int fd_out, int64_t off_out, size_t length, unsigned flags) {
  loff_t in_position = off_in, out_position = off_out;
  return SyscallResult(splice(fd_in, off_in < 0 ? nullptr : &in_position, fd_out,
                              off_out < 0 ? nullptr : &out_position, length, flags));
}

// splice(fdIn, offIn, fdOut, offOut, length, flags) -> bytes | -errno
Napi::Value Splice(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), DoSplice(FdArg(info, 0), OffsetArg(info, 1), FdArg(info, 2), OffsetArg(info, 3),
                                           SizeArg(info, 4), static_cast<unsigned>(IntArg(info, 5))));
}

// spliceInPool(...same...) -> Promise<bytes | -errno>
Napi::Value SpliceInPool(const Napi::CallbackInfo& info) {
  int fd_in = FdArg(info, 0), fd_out = FdArg(info, 2);
  int64_t off_in = OffsetArg(info, 1), off_out = OffsetArg(info, 3);
  size_t length = SizeArg(info, 4);
  unsigned flags = static_cast<unsigned>(IntArg(info, 5));
  return RunInPool(info.Env(), [=] { return DoSplice(fd_in, off_in, fd_out, off_out, length, flags); });
}

// tee(fdIn, fdOut, length, flags) -> bytes | -errno
Napi::Value Tee(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), SyscallResult(tee(FdArg(info, 0), FdArg(info, 1), SizeArg(info, 2),
                                                    static_cast<unsigned>(IntArg(info, 3)))));
}

// vmsplice(pipeFd, buffers[], flags) -> bytes | -errno
Napi::Value Vmsplice(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  std::vector<struct iovec> iov = IovecArg(info, 1);
  unsigned flags = static_cast<unsigned>(IntArg(info, 2));
  return NumberResult(info.Env(), SyscallResult(vmsplice(fd, iov.data(), iov.size(), flags)));
}

// pipe(flags) -> [readFd, writeFd] | -errno
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int fds[2];
  if (pipe2(fds, IntArg(info, 0)) < 0) return NumberResult(info.Env(), -errno);
  Napi::Array pair = Napi::Array::New(info.Env(), 2);
  pair.Set(0u, fds[0]);
  pair.Set(1u, fds[1]);
  return pair;
}

}  // namespace zerocopy
