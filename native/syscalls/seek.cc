#include <unistd.h>

#include "common/args.h"
#include "exports.h"

namespace zerocopy {

// lseek(fd, offset, whence) -> new offset | -errno
// SEEK_DATA / SEEK_HOLE find the data extents of a sparse file (ENXIO past the last data).
Napi::Value Lseek(const Napi::CallbackInfo& info) {
  return NumberResult(info.Env(), SyscallResult(lseek(FdArg(info, 0), Int64Arg(info, 1), IntArg(info, 2))));
}

}  // namespace zerocopy
