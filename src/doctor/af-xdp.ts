// Whether an AF_XDP capture can run here: a socket with a small UMEM and its rings. Nothing is
// bound and no XDP program attached (a zero-copy bind makes some drivers reset the queue, and
// a program would take the interface's packets), so zero-copy is the capture's to report.
import { getSystemErrorName } from 'node:util';
import type { NativeBinding } from '../binding/native.js';
import type { Probe } from './probe.js';

export function probeAfXdp(native: NativeBinding): Probe {
  const socket = new native.XdpSocket();
  const fail = (step: string, result: number): Probe => {
    const code = getSystemErrorName(result);
    return { available: false, detail: `${step}: ${code}: capture({ backend: 'xdp' }) cannot run here`, code };
  };
  try {
    const fd = socket.open();
    if (fd < 0) return fail('socket(AF_XDP)', fd);
    const result = socket.setupUmem(2048, 64, 64);
    if (result < 0) return fail('AF_XDP UMEM and rings', result);
    return {
      available: true,
      detail:
        "capture({ backend: 'xdp' }) runs: copy mode on any interface, zero-copy where the driver " +
        'has it (veth does not); the capture reports which',
    };
  } finally {
    socket.close();
  }
}
