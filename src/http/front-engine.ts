// Which engine the native front runs on: epoll (a system call per read, drop and write) or
// io_uring (every connection's reads and writes of an event-loop turn in one io_uring_enter).
// io_uring is asked for explicitly, or by 'auto'; wherever the kernel will not set up the ring
// the front needs (no io_uring, kernel.io_uring_disabled, a seccomp filter, an old kernel)
// the front runs on epoll, and the reason is told.

import { getSystemErrorName } from 'node:util';
import { addonStatus, binding } from '../binding/load.js';
import type { FrontEngine } from '../binding/native.js';

export type FrontEngineChoice = FrontEngine | 'auto';

export const FRONT_ENGINES: readonly FrontEngineChoice[] = ['epoll', 'io_uring', 'auto'];

/** epoll until a measurement on the lead's machine says otherwise (docs/engines.md). */
export const DEFAULT_FRONT_ENGINE: FrontEngineChoice = 'epoll';

export interface ResolvedFrontEngine {
  engine: FrontEngine;
  /** Why io_uring was asked for and is not used. */
  fallback?: string;
}

/** Why the front's io_uring engine cannot run here, or undefined when it can. */
export function frontRingUnavailable(): string | undefined {
  if (!addonStatus().available) return 'the addon is not loaded';
  const result = binding().probeFrontRing();
  if (result >= 0) return undefined;
  return ringErrorReason(result);
}

/** What a -errno from setting up the front's ring means. */
export function ringErrorReason(result: number): string {
  const name = getSystemErrorName(result);
  switch (name) {
    case 'ENOSYS':
      return 'io_uring_setup: ENOSYS (no io_uring in this kernel, or a seccomp filter)';
    case 'EPERM':
    case 'EACCES':
      return `io_uring_setup: ${name} (kernel.io_uring_disabled, or a seccomp filter)`;
    case 'EOPNOTSUPP':
    case 'EINVAL':
      return `io_uring: ${name} (an opcode or feature the front needs is missing: Linux 5.19 or later has them)`;
    case 'ENOMEM':
      return 'io_uring: ENOMEM (RLIMIT_MEMLOCK too low for the ring)';
    default:
      return `io_uring: ${name}`;
  }
}

/** The engine for `choice`: io_uring only when asked for (or 'auto') and the ring can be set up. */
export function resolveFrontEngine(choice: FrontEngineChoice = DEFAULT_FRONT_ENGINE): ResolvedFrontEngine {
  if (choice === 'epoll') return { engine: 'epoll' };
  const fallback = frontRingUnavailable();
  return fallback === undefined ? { engine: 'io_uring' } : { engine: 'epoll', fallback };
}
