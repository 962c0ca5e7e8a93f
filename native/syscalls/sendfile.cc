#include <sys/sendfile.h>

#include "common/args.h"
#include "exports.h"
#include "common/pool.h"

namespace zerocopy {

static int64_t DoSendfile(int out_fd, int in_fd, int64_t offset, size_t count) {
  if (offset < 0) return SyscallResult(sendfile(out_fd, in_fd, nullptr, count));
  off_t position = offset;
  return SyscallResult(sendfile(out_fd, in_fd, &position, count));
}

// sendfile(outFd, inFd, offset, count) -> bytes | -errno
Napi::Value Sendfile(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), DoSendfile(FdArg(info, 0), FdArg(info, 1), OffsetArg(info, 2), SizeArg(info, 3)));
}

// sendfileInPool(outFd, inFd, offset, count) -> Promise<bytes | -errno>
Napi::Value SendfileInPool(const Napi::CallbackInfo& info) {
  int out_fd = FdArg(info, 0), in_fd = FdArg(info, 1);
  int64_t offset = OffsetArg(info, 2);
  size_t count = SizeArg(info, 3);
  return RunInPool(info.Env(), [=] { return DoSendfile(out_fd, in_fd, offset, count); });
}

}  // namespace zerocopy
