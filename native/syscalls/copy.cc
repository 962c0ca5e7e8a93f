#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/args.h"
#include "exports.h"
#include "common/pool.h"

namespace zerocopy {

static int64_t DoCopyFileRange(int fd_in, int64_t off_in, int fd_out, int64_t off_out, size_t length, unsigned flags) {
  loff_t in_position = off_in, out_position = off_out;
  return SyscallResult(copy_file_range(fd_in, off_in < 0 ? nullptr : &in_position, fd_out,
                                       off_out < 0 ? nullptr : &out_position, length, flags));
}

// copyFileRange(fdIn, offIn, fdOut, offOut, length, flags) -> bytes | -errno
Napi::Value CopyFileRange(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), DoCopyFileRange(FdArg(info, 0), OffsetArg(info, 1), FdArg(info, 2),
                                                  OffsetArg(info, 3), SizeArg(info, 4),
                                                  static_cast<unsigned>(IntArg(info, 5))));
}

// copyFileRangeInPool(...same...) -> Promise<bytes | -errno>
Napi::Value CopyFileRangeInPool(const Napi::CallbackInfo& info) {
  int fd_in = FdArg(info, 0), fd_out = FdArg(info, 2);
  int64_t off_in = OffsetArg(info, 1), off_out = OffsetArg(info, 3);
  size_t length = SizeArg(info, 4);
  unsigned flags = static_cast<unsigned>(IntArg(info, 5));
  return RunInPool(info.Env(), [=] { return DoCopyFileRange(fd_in, off_in, fd_out, off_out, length, flags); });
}

// ficlone(destFd, srcFd) -> 0 | -errno
Napi::Value Ficlone(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), SyscallResult(ioctl(FdArg(info, 0), FICLONE, FdArg(info, 1))));
}

// ficloneRange(destFd, srcFd, srcOffset, length, destOffset) -> 0 | -errno
Napi::Value FicloneRange(const Napi::CallbackInfo& info) {
  struct file_clone_range range = {};
  range.src_fd = FdArg(info, 1);
  range.src_offset = static_cast<__u64>(Int64Arg(info, 2));
  range.src_length = static_cast<__u64>(Int64Arg(info, 3));
  range.dest_offset = static_cast<__u64>(Int64Arg(info, 4));
  return NumberResult(info.Env(), SyscallResult(ioctl(FdArg(info, 0), FICLONERANGE, &range)));
}

}  // namespace zerocopy
