import { binding } from '../binding/load.js';
import { check, invalidArgType, outOfRange } from '../errors.js';
import { validateBytes, validateBytesList, validateInt, validateLength } from './validate.js';

/** A range of another process's memory: where it starts there, and how many bytes. */
export interface RemoteRange {
  address: bigint;
  length: number;
}

function remoteRanges(value: unknown): Array<[bigint, number]> {
  const list = Array.isArray(value) ? value : [value];
  return list.map((item: unknown, index) => {
    if (item === null || typeof item !== 'object') {
      throw invalidArgType(`remote[${index}]`, 'an object { address: bigint, length: number }', item);
    }
    const { address, length } = item as Record<string, unknown>;
    if (typeof address !== 'bigint') throw invalidArgType(`remote[${index}].address`, 'of type bigint', address);
    if (address < 0n || address >= 2n ** 64n)
      throw outOfRange(`remote[${index}].address`, '>= 0n && < 2n ** 64n', address);
    return [address, validateLength(length, `remote[${index}].length`)];
  });
}

function vmArguments(pid: number, local: unknown, remote: unknown) {
  const localList = validateBytesList(local, 'local');
  const remoteList = remoteRanges(remote);
  if (localList.length > 1024 || remoteList.length > 1024) {
    throw outOfRange(
      'local/remote',
      'at most 1024 entries each (IOV_MAX)',
      Math.max(localList.length, remoteList.length),
    );
  }
  return [validateInt(pid, 'pid', 1, 2 ** 31 - 1), localList, remoteList] as const;
}

/**
 * process_vm_readv(2): copies bytes from another process's memory straight into `local`,
 * one copy, no pipe or socket in between. Needs ptrace access to `pid` (same user and a
 * permissive Yama policy, or a parent reading its child). Returns the bytes read, which is
 * short if a remote range ends in unmapped memory (EFAULT if the first one does).
 */
export function processVmReadv(
  pid: number,
  local: NodeJS.ArrayBufferView | NodeJS.ArrayBufferView[],
  remote: RemoteRange | RemoteRange[],
): number {
  return check(binding().processVmReadv(...vmArguments(pid, local, remote)), 'process_vm_readv');
}

/** process_vm_writev(2): copies `local` into another process's memory. Same rules as processVmReadv(). */
export function processVmWritev(
  pid: number,
  local: NodeJS.ArrayBufferView | NodeJS.ArrayBufferView[],
  remote: RemoteRange | RemoteRange[],
): number {
  return check(binding().processVmWritev(...vmArguments(pid, local, remote)), 'process_vm_writev');
}

/**
 * Where `bytes` live in this process, for a peer's processVmReadv(). The address is valid
 * while the memory is: keep a reference to the buffer for as long as a peer may use it.
 */
export function addressOf(bytes: NodeJS.ArrayBufferView): bigint {
  return binding().addressOf(validateBytes(bytes, 'bytes'));
}
