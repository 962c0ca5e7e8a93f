// Which way transfer() would send a Buffer into a socket here, and why.
import { ZERO_COPY_SEND_BYTES } from '../transfer/zero-copy/choose.js';
import type { Probe } from './probe.js';

export type SendModeProbe = Probe & { mode: 'msg_zerocopy' | 'plain'; thresholdBytes: number };

export function sendMode(socketZeroCopy: Probe, optionMemoryMax: number | null): SendModeProbe {
  if (!socketZeroCopy.available) {
    const probe: SendModeProbe = {
      available: false,
      mode: 'plain',
      thresholdBytes: ZERO_COPY_SEND_BYTES,
      detail: `plain sends: ${socketZeroCopy.detail}`,
    };
    if (socketZeroCopy.code !== undefined) probe.code = socketZeroCopy.code;
    return probe;
  }
  const room = optionMemoryMax === null ? '' : `; optmem_max ${optionMemoryMax} B bounds sends in flight`;
  return {
    available: true,
    mode: 'msg_zerocopy',
    thresholdBytes: ZERO_COPY_SEND_BYTES,
    detail:
      `MSG_ZEROCOPY for sends of ${ZERO_COPY_SEND_BYTES / 1024} KiB or more (TCP, UDP), plain below; ` +
      `a socket whose completions say COPIED (loopback, TCP over veth) switches to plain sends${room}`,
  };
}
