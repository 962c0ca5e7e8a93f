#include <sys/mman.h>

#include "common/args.h"
#include "exports.h"

namespace zerocopy {

// memfdCreate(name, flags) -> fd | -errno
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  return NumberResult(info.Env(), SyscallResult(memfd_create(name.c_str(), static_cast<unsigned>(IntArg(info, 1)))));
}

}  // namespace zerocopy
