// Waiting for a descriptor to become readable or writable without blocking the event loop.
import { binding } from '../binding/load.js';
import type { NativePoller } from '../binding/native.js';
import { systemError } from '../errors.js';

/**
 * 'error': only the socket's error queue (EPOLLERR), where MSG_ZEROCOPY completions arrive;
 * epoll reports errors and hang-ups whatever else is asked, so it asks for nothing else.
 */
export type Direction = 'readable' | 'writable' | 'error';

interface Waiter {
  fd: number;
  resolve: (events: number) => void;
  reject: (error: Error) => void;
}

/**
 * One private epoll set per thread, watched by a single libuv poll handle (libuv allows
 * only one handle per descriptor, and Node's socket handle already is one). Callers wait
 * on descriptors they own (dups), never on Node's: the number stays theirs until they
 * forget() and close it. At most one wait per descriptor at a time.
 */
class Readiness {
  #poller: NativePoller | undefined;
  #waiters = new Map<number, Waiter>();
  /** Descriptors in the epoll set, and the token of the one-shot registration pending on each. */
  #registered = new Map<number, { armed: boolean; token: number }>();
  #nextToken = 1;

  #getPoller(): NativePoller {
    if (this.#poller === undefined) {
      const { Poller } = binding();
      const fields = Poller.eventFields;
      this.#poller = new Poller((events) => this.#deliver(events, fields));
    }
    return this.#poller;
  }

  /** `events` holds [token, epollEvents] records of `fields` numbers. */
  #deliver(events: number[], fields: number): void {
    for (let i = 0; i + fields <= events.length; i += fields) {
      const token = events[i] as number;
      const waiter = this.#waiters.get(token);
      if (waiter === undefined) continue;
      this.#waiters.delete(token);
      const registration = this.#registered.get(waiter.fd);
      if (registration !== undefined) registration.armed = false;
      waiter.resolve(events[i + 1] as number);
    }
  }

  /** Resolves with the epoll events once `fd` is ready (errors and hang-ups count as ready: the next call reports them). */
  wait(fd: number, direction: Direction): Promise<number> {
    const { constants } = binding();
    const poller = this.#getPoller();
    const token = this.#nextToken++;
    const events =
      direction === 'readable'
        ? constants.EPOLLIN | constants.EPOLLRDHUP
        : direction === 'writable'
          ? constants.EPOLLOUT
          : 0;
    const registration = this.#registered.get(fd);
    const result = poller.arm(fd, events, token, registration === undefined ? 1 : 0);
    if (result < 0) return Promise.reject(systemError(result, 'epoll_ctl'));
    if (registration === undefined) this.#registered.set(fd, { armed: true, token });
    else {
      registration.armed = true;
      registration.token = token;
    }
    return new Promise<number>((resolve, reject) => {
      this.#waiters.set(token, { fd, resolve, reject });
    });
  }

  /** Ends a pending wait on `fd` with `reason` (an abort) and takes `fd` out of the set. */
  cancel(fd: number, reason: Error): void {
    const registration = this.#registered.get(fd);
    const waiter = registration === undefined ? undefined : this.#waiters.get(registration.token);
    this.forget(fd);
    waiter?.reject(reason);
  }

  /** Takes `fd` out of the set; call before closing it. */
  forget(fd: number): void {
    const registration = this.#registered.get(fd);
    if (registration === undefined) return;
    this.#registered.delete(fd);
    this.#waiters.delete(registration.token);
    this.#getPoller().disarm(fd, registration.armed ? 1 : 0);
  }
}

export const readiness = new Readiness();
