// Checking channel options before anything is created or mapped.
import { binding } from '../binding/load.js';
import type { ChannelLimits } from '../binding/native.js';
import { invalidArgType, invalidArgValue, outOfRange } from '../errors.js';

export type ChannelMode = 'spsc' | 'broadcast';
export type OverflowPolicy = 'block' | 'overwrite';

export interface ChannelOptions {
  /** Bytes per slot: the longest message. A power of two from 64 B to 64 MiB. */
  slotSize: number;
  /** Slots in the ring: a power of two from 2 to 65,536 (slotSize x slots at most 1 GiB). */
  slots: number;
  /** 'spsc' (default): one producer, one consumer. 'broadcast': one producer, many subscribers, each with its own cursor. */
  mode?: ChannelMode;
  /** broadcast only: 'block' (default) waits for the slowest subscriber; 'overwrite' never waits for a lagging one and tells it how many it missed. */
  overflow?: OverflowPolicy;
  /** broadcast only: how many subscribers may attach at once (default 16, the limit). */
  maxSubscribers?: number;
}

export interface Geometry {
  slotSize: number;
  slots: number;
  mode: ChannelMode;
  overflow: OverflowPolicy;
  maxSubscribers: number;
}

export function channelLimits(): ChannelLimits {
  return binding().Channel.limits;
}

function isPowerOfTwo(value: number): boolean {
  return value > 0 && (value & (value - 1)) === 0;
}

function integerOption(options: object, name: string, min: number, max: number, powerOfTwo: boolean): number {
  const value = (options as Record<string, unknown>)[name];
  const argument = `options.${name}`;
  if (typeof value !== 'number') throw invalidArgType(argument, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(argument, `an integer >= ${min} and <= ${max}`, value);
  }
  if (powerOfTwo && !isPowerOfTwo(value)) throw invalidArgValue(argument, value, 'must be a power of two');
  return value;
}

export function validateChannelOptions(options: unknown): Geometry {
  if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options);
  const limits = channelLimits();
  const slotSize = integerOption(options, 'slotSize', limits.minSlotSize, limits.maxSlotSize, true);
  const slots = integerOption(options, 'slots', limits.minSlots, limits.maxSlots, true);
  if (slotSize * slots > limits.maxDataBytes) {
    throw outOfRange('options.slotSize * options.slots', `at most ${limits.maxDataBytes} bytes`, slotSize * slots);
  }
  const given = options as ChannelOptions;
  const mode = given.mode ?? 'spsc';
  if (mode !== 'spsc' && mode !== 'broadcast')
    throw invalidArgValue('options.mode', mode, "must be 'spsc' or 'broadcast'");
  const overflow = given.overflow ?? 'block';
  if (overflow !== 'block' && overflow !== 'overwrite') {
    throw invalidArgValue('options.overflow', overflow, "must be 'block' or 'overwrite'");
  }
  if (mode === 'spsc' && overflow !== 'block') {
    throw invalidArgValue('options.overflow', overflow, "is only for mode 'broadcast' (spsc always blocks)");
  }
  let maxSubscribers = 1;
  if (mode === 'broadcast') {
    maxSubscribers =
      given.maxSubscribers === undefined
        ? limits.maxSubscribers
        : integerOption(options, 'maxSubscribers', 1, limits.maxSubscribers, false);
  } else if (given.maxSubscribers !== undefined && given.maxSubscribers !== 1) {
    throw invalidArgValue('options.maxSubscribers', given.maxSubscribers, "must be 1 in mode 'spsc'");
  }
  return { slotSize, slots, mode, overflow, maxSubscribers };
}

/** Spin budget of a participant: how long it busy-waits before it sleeps (0: never spins). */
export function validateSpin(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw invalidArgType('options.spin', 'of type number', value);
  if (!Number.isInteger(value) || value < 0 || value > 1_000_000) {
    throw outOfRange('options.spin', 'an integer number of microseconds >= 0 and <= 1000000', value);
  }
  return value;
}
