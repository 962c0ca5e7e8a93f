// The declarations of everything the addon exports, expanded from exports.def (the one list
// of its surface); addon.cc registers the same entries.
#pragma once

#include <napi.h>

namespace zerocopy {

#define ZC_FUNCTION(js_name, cpp_function) Napi::Value cpp_function(const Napi::CallbackInfo& info);
#define ZC_CLASS(js_name, define_function) Napi::Function define_function(Napi::Env env);
#define ZC_CONSTANT(name)
#define ZC_CONSTANT_VALUE(name, expression)
#include "exports.def"
#undef ZC_FUNCTION
#undef ZC_CLASS
#undef ZC_CONSTANT
#undef ZC_CONSTANT_VALUE

}  // namespace zerocopy
