#include "common/args.h"

#include <climits>
#include <cmath>

namespace zerocopy {

static Napi::Number NumberAt(const Napi::CallbackInfo& info, size_t index) {
  if (index >= info.Length() || !info[index].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(index) + " must be a number");
  }
  return info[index].As<Napi::Number>();
}

int FdArg(const Napi::CallbackInfo& info, size_t index) {
  // -1 is let through on purpose: capability probes call with an invalid descriptor and
  // read EBADF as "the kernel knows this call".
  double value = NumberAt(info, index).DoubleValue();
  if (value < -1 || value > INT_MAX || value != std::floor(value)) {
    throw Napi::RangeError::New(info.Env(), "file descriptor out of range");
  }
  return static_cast<int>(value);
}

int IntArg(const Napi::CallbackInfo& info, size_t index) {
  double value = NumberAt(info, index).DoubleValue();
  if (value < INT_MIN || value > INT_MAX || value != std::floor(value)) {
    throw Napi::RangeError::New(info.Env(), "integer argument out of range");
  }
  return static_cast<int>(value);
}

int64_t Int64Arg(const Napi::CallbackInfo& info, size_t index) {
  double value = NumberAt(info, index).DoubleValue();
  // 2^53: TypeScript only passes safe integers.
  if (std::fabs(value) > 9007199254740991.0 || value != std::floor(value)) {
    throw Napi::RangeError::New(info.Env(), "integer argument out of range");
  }
  return static_cast<int64_t>(value);
}

int64_t OffsetArg(const Napi::CallbackInfo& info, size_t index) { return Int64Arg(info, index); }

size_t SizeArg(const Napi::CallbackInfo& info, size_t index) {
  int64_t value = Int64Arg(info, index);
  if (value < 0) throw Napi::RangeError::New(info.Env(), "size argument must not be negative");
  return static_cast<size_t>(value);
}

static ByteRange BytesOf(Napi::Env env, Napi::Value value) {
  if (value.IsTypedArray()) {
    Napi::TypedArray array = value.As<Napi::TypedArray>();
    Napi::ArrayBuffer backing = array.ArrayBuffer();
    uint8_t* base = static_cast<uint8_t*>(backing.Data());
    return {base == nullptr ? nullptr : base + array.ByteOffset(), array.ByteLength()};
  }
  if (value.IsDataView()) {
    Napi::DataView view = value.As<Napi::DataView>();
    uint8_t* base = static_cast<uint8_t*>(view.ArrayBuffer().Data());
    return {base == nullptr ? nullptr : base + view.ByteOffset(), view.ByteLength()};
  }
  throw Napi::TypeError::New(env, "expected a Buffer, TypedArray or DataView");
}

ByteRange BytesArg(const Napi::CallbackInfo& info, size_t index) {
  if (index >= info.Length()) throw Napi::TypeError::New(info.Env(), "missing buffer argument");
  return BytesOf(info.Env(), info[index]);
}

std::vector<struct iovec> IovecArg(const Napi::CallbackInfo& info, size_t index) {
  if (index >= info.Length() || !info[index].IsArray()) {
    throw Napi::TypeError::New(info.Env(), "expected an array of buffers");
  }
  Napi::Array list = info[index].As<Napi::Array>();
  std::vector<struct iovec> iov;
  iov.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    ByteRange bytes = BytesOf(info.Env(), list.Get(i));
    iov.push_back({bytes.data, bytes.length});
  }
  return iov;
}

}  // namespace zerocopy
