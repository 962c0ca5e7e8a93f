// Argument decoding and result encoding shared by every syscall wrapper.
//
// Convention at this boundary (as liburing and libuv do): a wrapper returns the syscall's
// result when it is >= 0 and the negated errno when it fails. It never throws for a
// failing syscall; TypeScript turns the negative number into a Node-style error in one
// place (src/errors.ts). A wrapper throws only when called with arguments of the wrong
// JavaScript type, which the TypeScript layer rules out before calling.
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <sys/types.h>
#include <sys/uio.h>
#include <vector>

namespace zerocopy {

int FdArg(const Napi::CallbackInfo& info, size_t index);
int IntArg(const Napi::CallbackInfo& info, size_t index);
int64_t Int64Arg(const Napi::CallbackInfo& info, size_t index);
// Offsets: a negative value means "no offset: use and advance the file position".
int64_t OffsetArg(const Napi::CallbackInfo& info, size_t index);
size_t SizeArg(const Napi::CallbackInfo& info, size_t index);

struct ByteRange {
  uint8_t* data;
  size_t length;
};
// A Buffer, TypedArray or DataView; the bytes it views.
ByteRange BytesArg(const Napi::CallbackInfo& info, size_t index);
// An array of Buffers/TypedArrays as an iovec list (they stay referenced by `info`
// for the duration of the call).
std::vector<struct iovec> IovecArg(const Napi::CallbackInfo& info, size_t index);

// The arguments of a native class constructed as `new X(options, onEvents)`: the options
// object; throws a TypeError showing `usage` unless they are an object and a function.
inline Napi::Object OptionsWithCallback(const Napi::CallbackInfo& info, const char* usage) {
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), usage);
  }
  return info[0].As<Napi::Object>();
}

inline double NumberOption(const Napi::Object& options, const char* name) {
  return options.Get(name).As<Napi::Number>().DoubleValue();
}

// Read errno immediately after the failing call, before anything else can touch it.
inline int64_t SyscallResult(int64_t result) { return result < 0 ? -errno : result; }

inline Napi::Value NumberResult(Napi::Env env, int64_t result) {
  return Napi::Number::New(env, static_cast<double>(result));
}

}  // namespace zerocopy
