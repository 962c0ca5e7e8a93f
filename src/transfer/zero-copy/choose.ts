// Whether a Buffer goes into a socket by lending its pages (MSG_ZEROCOPY), decided once per transfer.
import { binding } from '../../binding/load.js';
import { systemError, unsupported } from '../../errors.js';
import { socketInfo } from '../../primitives/socket.js';
import type { Endpoint } from '../endpoints.js';
import { planSegmentation, type Segmentation } from './gso.js';
import { existingLedger, forgetLedger, newLedger, type SendLedger } from './ledger.js';

/**
 * Below this many bytes per send, 'auto' copies. The kernel's own guidance is that
 * MSG_ZEROCOPY pays from around 10 KB per send: below that, pinning pages and reading a
 * completion cost more than the copy, and a small TCP send's completion waits for its ACK
 * (delayed ACKs) while the Buffer stays lent. 32 KiB sits inside the 10-64 KiB range where
 * published figures put the crossover; `npm run bench -- zerocopy-send` measures it on the
 * veth-drop rig (thresholds.zeroCopySendBytes in the report).
 */
export const ZERO_COPY_SEND_BYTES = 32 * 1024;

/** The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP); IPv6 allows 20 more. */
const MAX_UDP_IPV4 = 65_507;
const MAX_UDP_IPV6 = 65_527;

/**
 * How a connected UDP socket's sends are cut: datagrams of the path MTU less the headers
 * (a fragmented datagram is copied by the kernel whatever MSG_ZEROCOPY asked), many of them
 * per send with UDP_SEGMENT, within the largest UDP payload.
 */
function segmentationFor(fd: number, ipv6: boolean): Segmentation {
  const native = binding();
  const { constants } = native;
  const mtu = ipv6
    ? native.getsockoptInt(fd, constants.IPPROTO_IPV6, constants.IPV6_MTU)
    : native.getsockoptInt(fd, constants.IPPROTO_IP, constants.IP_MTU);
  const largest = ipv6 ? MAX_UDP_IPV6 : MAX_UDP_IPV4;
  // ENOTCONN (not connected): the send fails on its own, with the kernel's error.
  const segment = mtu <= 0 ? largest : Math.min(largest, mtu - (ipv6 ? 48 : 28));
  return planSegmentation(segment, largest);
}

export type ZeroCopyMode = 'auto' | 'always' | 'never';

export interface SendChoice {
  /** Present when the transfer lends pages: the socket's ledger of outstanding sends. */
  ledger?: SendLedger;
  reason: string;
  /** Most bytes per send, when the socket is UDP: one datagram. */
  maxSend?: number;
  /** A UDP socket: how sends are cut into datagrams, many per send where UDP_SEGMENT allows. */
  segmentation?: Segmentation;
}

export function chooseZeroCopy(
  destination: Endpoint,
  length: number,
  mode: ZeroCopyMode,
  minBytes: number,
): SendChoice {
  const force = mode === 'always';
  const refuse = (reason: string): SendChoice => {
    if (force) throw unsupported('zeroCopy: "always"', reason);
    return { reason };
  };
  if (destination.blocking) {
    if (mode === 'never') return { reason: 'turned off (zeroCopy: "never")' };
    return refuse('a blocking socket is written from the thread pool, by copying');
  }
  const info = socketInfo(destination.fd);
  // Datagram sizes first: plain sends into a UDP socket are cut the same way.
  const segmentation =
    info.type === 'datagram' && info.family !== 'unix'
      ? segmentationFor(destination.fd, info.family === 'ipv6')
      : undefined;
  const cut = segmentation === undefined ? {} : { maxSend: segmentation.segmentBytes, segmentation };
  if (mode === 'never') return { reason: 'turned off (zeroCopy: "never")', ...cut };
  if (info.family !== 'ipv4' && info.family !== 'ipv6') {
    return refuse(`${info.family === 'unix' ? 'Unix' : 'this kind of'} socket has no zero-copy send`);
  }
  if (info.type === 'other') return refuse('only stream (TCP) and datagram (UDP) sockets lend pages');
  const choice: SendChoice = { reason: '', ...cut };
  if (!force && length < minBytes) return { ...choice, reason: `below the zero-copy threshold (${minBytes} bytes)` };
  if (!force && segmentation !== undefined && segmentation.limit < minBytes) {
    return {
      ...choice,
      reason: `sends on this path carry at most ${segmentation.limit} bytes: below the zero-copy threshold (${minBytes} bytes)`,
    };
  }

  const native = binding();
  const { constants } = native;
  const fd = destination.fd;
  let ledger = existingLedger(destination.socket, destination.device, destination.inode);
  if (
    ledger !== undefined &&
    destination.socket === undefined &&
    native.getsockoptInt(fd, constants.SOL_SOCKET, constants.SO_ZEROCOPY) !== 1
  ) {
    // The ledger of a closed socket whose inode number this one reuses: this socket never had
    // SO_ZEROCOPY turned on, so the kernel would ignore MSG_ZEROCOPY and never send a completion.
    forgetLedger(destination.device, destination.inode);
    ledger = undefined;
  }
  if (ledger === undefined) {
    if (native.getsockoptInt(fd, constants.SOL_SOCKET, constants.SO_ZEROCOPY) === 1) {
      // Someone else's MSG_ZEROCOPY sends took numbers this transfer cannot know, so its own
      // completions could not be told apart from theirs.
      return refuse('SO_ZEROCOPY was turned on outside transfer(): completions cannot be matched to sends');
    }
    const result = native.setsockoptInt(fd, constants.SOL_SOCKET, constants.SO_ZEROCOPY, 1);
    if (result < 0) {
      if (force) throw systemError(result, 'setsockopt');
      return { ...choice, reason: `SO_ZEROCOPY refused: ${systemError(result, 'setsockopt').code}` };
    }
    ledger = newLedger(destination.socket, destination.device, destination.inode);
  }
  if (!force && ledger.verdict === 'copied') {
    return {
      ...choice,
      reason: 'earlier completions on this socket said the kernel copies (loopback or a virtual device): plain sends',
    };
  }
  // A refusal is a property of the socket's path (its device, its checksum setting): the
  // first transfer that met it does not ask again with lent pages.
  if (ledger.segmentationRefused !== undefined && segmentation !== undefined) {
    segmentation.turnOff(ledger.segmentationRefused);
    if (!force && segmentation.limit < minBytes) {
      return {
        ...choice,
        reason: `the kernel refused UDP_SEGMENT on this socket: datagrams of ${segmentation.limit} bytes are below the zero-copy threshold (${minBytes} bytes)`,
      };
    }
  }
  choice.ledger = ledger;
  choice.reason = force ? 'forced (zeroCopy: "always")' : `sends of ${minBytes} bytes or more lend their pages`;
  return choice;
}
