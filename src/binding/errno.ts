// Error numbers as the addon returns them: negated (a call gives its result, or -errno).
// Named once here so that no module compares a result against a bare number.
import { constants } from 'node:os';

const { errno } = constants;

export const EPERM = -errno.EPERM;
export const ENOENT = -errno.ENOENT;
export const EINTR = -errno.EINTR;
export const ENXIO = -errno.ENXIO;
export const EBADF = -errno.EBADF;
export const EAGAIN = -errno.EAGAIN;
export const EBUSY = -errno.EBUSY;
export const EPIPE = -errno.EPIPE;
export const ENOSYS = -errno.ENOSYS;
export const EPROTO = -errno.EPROTO;
export const EBADMSG = -errno.EBADMSG;
export const EMSGSIZE = -errno.EMSGSIZE;
export const ENOTCONN = -errno.ENOTCONN;
// Node's table has no ESHUTDOWN: Linux's number.
export const ESHUTDOWN = -108;
