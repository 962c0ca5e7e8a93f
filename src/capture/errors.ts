// The errors of setting a capture up, with what to do about them in the message.
import type { SystemError } from '../errors.js';
import { systemError } from '../errors.js';

function withHint(error: SystemError, hint: string): SystemError {
  error.message += `: ${hint}`;
  return error;
}

/** if_nametoindex failed (ENODEV): no interface of that name in this network namespace. */
export function interfaceError(result: number, name: string): SystemError {
  const error = withHint(systemError(result, 'if_nametoindex'), `no network interface named '${name}'`);
  return Object.assign(error, { interface: name });
}

/** socket(AF_PACKET) or a setsockopt on it failed. */
export function socketError(result: number, syscall: string): SystemError {
  const error = systemError(result, syscall);
  if (error.code === 'EPERM' || error.code === 'EACCES') {
    return withHint(
      error,
      'capturing packets needs the CAP_NET_RAW capability: run as root, or give it to Node with ' +
        '`setcap cap_net_raw+ep "$(command -v node)"`',
    );
  }
  return error;
}

/** setsockopt(PACKET_RX_RING) or the ring's mmap failed: the kernel refused these sizes. */
export function ringError(
  result: number,
  syscall: string,
  sizes: { blockSize: number; blocks: number; pageSize: number; maxRingBytes: number },
): SystemError {
  const { blockSize, blocks, pageSize, maxRingBytes } = sizes;
  const asked = `a ring of ${blocks} blocks of ${blockSize} bytes`;
  const error = systemError(result, syscall);
  if (error.code === 'ENOMEM') {
    return withHint(
      error,
      `the kernel could not allocate ${asked} (${blockSize * blocks} bytes); ask for fewer or smaller blocks`,
    );
  }
  return withHint(
    error,
    `the kernel refused ${asked}: a block must be a multiple of the page size (${pageSize} bytes), ` +
      `less than ${2 ** 31} bytes and room for at least one packet, and the ring at most ${maxRingBytes} bytes`,
  );
}
