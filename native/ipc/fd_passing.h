// Passing a descriptor over a Unix socket (SCM_RIGHTS): how an unrelated process gets a
// channel. Node cannot send ancillary data itself.
#pragma once

namespace zerocopy::ipc {

// Sends `fd` with one byte of data -> 0 | -errno (-EAGAIN on a full non-blocking socket).
int SendDescriptor(int socket_fd, int fd);
// Receives one descriptor sent that way (O_CLOEXEC) -> fd | -errno (-EAGAIN: nothing yet;
// -EPIPE: the peer closed; -EBADMSG: data came without a descriptor).
int ReceiveDescriptor(int socket_fd);

}  // namespace zerocopy::ipc
