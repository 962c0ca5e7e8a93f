// The export table and the kernel constants TypeScript needs. Nothing else lives here.
#include <fcntl.h>
#include <time.h>
#include <linux/errqueue.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exports.h"

namespace zerocopy {

static Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define ZC_CONSTANT(name) c.Set(#name, Napi::Number::New(env, static_cast<double>(name)))
  ZC_CONSTANT(SPLICE_F_MOVE);
  ZC_CONSTANT(SPLICE_F_NONBLOCK);
  ZC_CONSTANT(SPLICE_F_MORE);
  ZC_CONSTANT(SPLICE_F_GIFT);
  ZC_CONSTANT(O_NONBLOCK);
  ZC_CONSTANT(O_CLOEXEC);
  ZC_CONSTANT(O_APPEND);
  ZC_CONSTANT(O_ACCMODE);
  ZC_CONSTANT(O_RDONLY);
  ZC_CONSTANT(O_WRONLY);
  ZC_CONSTANT(O_RDWR);
  ZC_CONSTANT(O_DIRECT);
  ZC_CONSTANT(F_GETFL);
  ZC_CONSTANT(F_SETFL);
  ZC_CONSTANT(F_GETFD);
  ZC_CONSTANT(F_SETFD);
  ZC_CONSTANT(FD_CLOEXEC);
  ZC_CONSTANT(F_DUPFD_CLOEXEC);
  ZC_CONSTANT(F_GETPIPE_SZ);
  ZC_CONSTANT(F_SETPIPE_SZ);
  ZC_CONSTANT(F_ADD_SEALS);
  ZC_CONSTANT(F_GET_SEALS);
  ZC_CONSTANT(F_SEAL_SEAL);
  ZC_CONSTANT(F_SEAL_SHRINK);
  ZC_CONSTANT(F_SEAL_GROW);
  ZC_CONSTANT(F_SEAL_WRITE);
  ZC_CONSTANT(F_SEAL_FUTURE_WRITE);
  ZC_CONSTANT(MFD_CLOEXEC);
  ZC_CONSTANT(MFD_ALLOW_SEALING);
  ZC_CONSTANT(MFD_HUGETLB);
  ZC_CONSTANT(PROT_NONE);
  ZC_CONSTANT(PROT_READ);
  ZC_CONSTANT(PROT_WRITE);
  ZC_CONSTANT(MAP_SHARED);
  ZC_CONSTANT(MAP_PRIVATE);
  ZC_CONSTANT(MAP_POPULATE);
  ZC_CONSTANT(MADV_NORMAL);
  ZC_CONSTANT(MADV_RANDOM);
  ZC_CONSTANT(MADV_SEQUENTIAL);
  ZC_CONSTANT(MADV_WILLNEED);
  ZC_CONSTANT(MADV_DONTNEED);
  ZC_CONSTANT(MADV_HUGEPAGE);
  ZC_CONSTANT(MADV_NOHUGEPAGE);
  ZC_CONSTANT(MS_ASYNC);
  ZC_CONSTANT(MS_SYNC);
  ZC_CONSTANT(MS_INVALIDATE);
  ZC_CONSTANT(POSIX_FADV_NORMAL);
  ZC_CONSTANT(POSIX_FADV_RANDOM);
  ZC_CONSTANT(POSIX_FADV_SEQUENTIAL);
  ZC_CONSTANT(POSIX_FADV_WILLNEED);
  ZC_CONSTANT(POSIX_FADV_DONTNEED);
  ZC_CONSTANT(POSIX_FADV_NOREUSE);
  ZC_CONSTANT(AF_UNIX);
  ZC_CONSTANT(AF_INET);
  ZC_CONSTANT(AF_INET6);
  ZC_CONSTANT(SOCK_STREAM);
  ZC_CONSTANT(SOCK_DGRAM);
  ZC_CONSTANT(SOCK_NONBLOCK);
  ZC_CONSTANT(SOCK_CLOEXEC);
  ZC_CONSTANT(SOL_SOCKET);
  ZC_CONSTANT(SO_TYPE);
  ZC_CONSTANT(SO_DOMAIN);
  ZC_CONSTANT(SO_ZEROCOPY);
  ZC_CONSTANT(SO_SNDBUF);
  ZC_CONSTANT(SO_RCVBUF);
  ZC_CONSTANT(IPPROTO_TCP);
  ZC_CONSTANT(TCP_CORK);
  ZC_CONSTANT(TCP_NODELAY);
  ZC_CONSTANT(TCP_ULP);
  ZC_CONSTANT(MSG_ZEROCOPY);
  ZC_CONSTANT(MSG_DONTWAIT);
  ZC_CONSTANT(MSG_NOSIGNAL);
  ZC_CONSTANT(MSG_MORE);
  ZC_CONSTANT(IORING_OP_SPLICE);
  ZC_CONSTANT(IORING_OP_TEE);
  ZC_CONSTANT(IORING_OP_SEND_ZC);
  ZC_CONSTANT(IORING_OP_SENDMSG_ZC);
  ZC_CONSTANT(IORING_OP_SEND);
  ZC_CONSTANT(IORING_OP_READ);
  ZC_CONSTANT(IORING_OP_WRITE);
  ZC_CONSTANT(IORING_FEAT_FAST_POLL);
  ZC_CONSTANT(IORING_FEAT_NODROP);
  ZC_CONSTANT(EPOLLIN);
  ZC_CONSTANT(EPOLLOUT);
  ZC_CONSTANT(EPOLLERR);
  ZC_CONSTANT(EPOLLHUP);
  ZC_CONSTANT(EPOLLRDHUP);
  ZC_CONSTANT(SEEK_SET);
  ZC_CONSTANT(SEEK_CUR);
  ZC_CONSTANT(SEEK_END);
  ZC_CONSTANT(SEEK_DATA);
  ZC_CONSTANT(SEEK_HOLE);
#undef ZC_CONSTANT
  c.Set("PAGE_SIZE", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
  c.Set("MAX_RW_COUNT", Napi::Number::New(env, 0x7ffff000));
  c.Freeze();
  return c;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sendfile", Napi::Function::New(env, Sendfile, "sendfile"));
  exports.Set("sendfileInPool", Napi::Function::New(env, SendfileInPool, "sendfileInPool"));
  exports.Set("splice", Napi::Function::New(env, Splice, "splice"));
  exports.Set("spliceInPool", Napi::Function::New(env, SpliceInPool, "spliceInPool"));
  exports.Set("tee", Napi::Function::New(env, Tee, "tee"));
  exports.Set("vmsplice", Napi::Function::New(env, Vmsplice, "vmsplice"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("copyFileRange", Napi::Function::New(env, CopyFileRange, "copyFileRange"));
  exports.Set("copyFileRangeInPool", Napi::Function::New(env, CopyFileRangeInPool, "copyFileRangeInPool"));
  exports.Set("ficlone", Napi::Function::New(env, Ficlone, "ficlone"));
  exports.Set("ficloneRange", Napi::Function::New(env, FicloneRange, "ficloneRange"));
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("unmap", Napi::Function::New(env, Unmap, "unmap"));
  exports.Set("mappingState", Napi::Function::New(env, MappingState, "mappingState"));
  exports.Set("madvise", Napi::Function::New(env, Madvise, "madvise"));
  exports.Set("msync", Napi::Function::New(env, Msync, "msync"));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("processVmReadv", Napi::Function::New(env, ProcessVmReadv, "processVmReadv"));
  exports.Set("processVmWritev", Napi::Function::New(env, ProcessVmWritev, "processVmWritev"));
  exports.Set("socket", Napi::Function::New(env, Socket, "socket"));
  exports.Set("socketpair", Napi::Function::New(env, Socketpair, "socketpair"));
  exports.Set("setsockoptInt", Napi::Function::New(env, SetsockoptInt, "setsockoptInt"));
  exports.Set("getsockoptInt", Napi::Function::New(env, GetsockoptInt, "getsockoptInt"));
  exports.Set("setsockoptBytes", Napi::Function::New(env, SetsockoptBytes, "setsockoptBytes"));
  exports.Set("send", Napi::Function::New(env, Send, "send"));
  exports.Set("readZerocopyCompletions", Napi::Function::New(env, ReadZerocopyCompletions, "readZerocopyCompletions"));
  exports.Set("fcntl", Napi::Function::New(env, Fcntl, "fcntl"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("fadvise", Napi::Function::New(env, Fadvise, "fadvise"));
  exports.Set("readahead", Napi::Function::New(env, Readahead, "readahead"));
  exports.Set("fileSystemType", Napi::Function::New(env, FileSystemType, "fileSystemType"));
  exports.Set("probeIoUring", Napi::Function::New(env, ProbeIoUring, "probeIoUring"));
  exports.Set("residentNow", Napi::Function::New(env, ResidentPages, "residentNow"));
  exports.Set("lseek", Napi::Function::New(env, Lseek, "lseek"));
  exports.Set("Poller", DefinePoller(env));
  exports.Set("NativeFront", DefineNativeFront(env));
  exports.Set("Relay", DefineRelay(env));
  exports.Set("Channel", DefineChannel(env));
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace zerocopy

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return zerocopy::Init(env, exports); }

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
