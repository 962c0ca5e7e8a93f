// The export table: every entry of exports.def registered under its JavaScript name, and the
// system headers its constants come from. Nothing else lives here.
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exports.h"

namespace zerocopy {

static Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define ZC_FUNCTION(js_name, cpp_function)
#define ZC_CLASS(js_name, define_function)
#define ZC_CONSTANT(name) c.Set(#name, Napi::Number::New(env, static_cast<double>(name)));
#define ZC_CONSTANT_VALUE(name, expression) c.Set(#name, Napi::Number::New(env, static_cast<double>(expression)));
#include "exports.def"
#undef ZC_FUNCTION
#undef ZC_CLASS
#undef ZC_CONSTANT
#undef ZC_CONSTANT_VALUE
  c.Freeze();
  return c;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
#define ZC_FUNCTION(js_name, cpp_function) \
  exports.Set(#js_name, Napi::Function::New(env, cpp_function, #js_name));
#define ZC_CLASS(js_name, define_function) exports.Set(#js_name, define_function(env));
#define ZC_CONSTANT(name)
#define ZC_CONSTANT_VALUE(name, expression)
#include "exports.def"
#undef ZC_FUNCTION
#undef ZC_CLASS
#undef ZC_CONSTANT
#undef ZC_CONSTANT_VALUE
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace zerocopy

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return zerocopy::Init(env, exports); }

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
