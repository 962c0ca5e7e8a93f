// The one place on one machine where the kernel really reads a sender's pages late: veth
// pairs between network namespaces made (and removed) by the test.
//
//   sender namespace                         receiver namespace
//   zca0 10.201.0.1  --veth-->  zcb0 (same namespace, no address; every packet dropped at
//                                     its ingress by a two-instruction BPF program, so
//                                     nothing is delivered locally and nothing is copied)
//   zca1 10.201.1.1  --veth-->  zcb1 10.201.1.2 (a real receiver)
//
// zca0/zcb0 carry 65000-byte packets unless `dropMtu` says otherwise; zca1/zcb1 keep 1500.
// With `rateMbit`, an htb qdisc on the sender's side of both pairs holds packets back, so
// the kernel reads the pages well after send() returned.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DROP_ADDRESS = '10.201.0.2';
export const RECEIVER_ADDRESS = '10.201.1.2';
const DROP_MAC = '02:00:00:00:00:02';

const helperSource = fileURLToPath(new URL('../../../test/support/ingress-drop.c', import.meta.url));

export interface VethRig {
  /** Network namespace names: run a process in one with `ip netns exec <name> ...`. */
  sender: string;
  receiver: string;
  /** Which program drops at zcb0's ingress. */
  drop: 'tcx' | 'xdp';
  close(): Promise<void>;
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

/** Compiles the drop helper into `dir` (cc, no libraries). */
async function buildHelper(dir: string): Promise<string> {
  const binary = join(dir, 'ingress-drop');
  if (!existsSync(binary)) await run('cc', ['-O2', '-o', binary, helperSource]);
  return binary;
}

/**
 * Makes the rig, or returns why it cannot (no network namespaces, no veth, no bpf(), no
 * compiler): the caller skips out loud with that reason.
 */
export async function makeVethRig(
  dir: string,
  options: { rateMbit?: number; dropMtu?: number } = {},
): Promise<VethRig | string> {
  const tag = `${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const sender = `zc-send-${tag}`;
  const receiver = `zc-recv-${tag}`;
  let helper: ReturnType<typeof spawn> | undefined;
  const close = async () => {
    helper?.stdin?.end();
    helper?.kill();
    await run('ip', ['netns', 'del', sender]).catch(() => {});
    await run('ip', ['netns', 'del', receiver]).catch(() => {});
  };
  let binary: string;
  try {
    binary = await buildHelper(dir);
  } catch (error) {
    return `cannot compile the BPF drop helper with cc: ${(error as Error).message.split('\n')[0]}`;
  }
  try {
    await ip('netns', 'add', sender);
    await ip('netns', 'add', receiver);
  } catch (error) {
    await close();
    return `cannot make network namespaces: ${(error as Error).message.split('\n')[0]}`;
  }
  try {
    await ip('-n', sender, 'link', 'set', 'lo', 'up');
    await ip('-n', receiver, 'link', 'set', 'lo', 'up');
    await ip('-n', sender, 'link', 'add', 'zca0', 'type', 'veth', 'peer', 'name', 'zcb0');
    await ip('-n', sender, 'link', 'set', 'zcb0', 'address', DROP_MAC);
    for (const device of ['zca0', 'zcb0']) {
      // One UDP datagram of up to 64 KiB is one packet: no IP fragments. `dropMtu` makes it
      // an Ethernet-sized path instead, where UDP_SEGMENT sends carry many datagrams.
      await ip('-n', sender, 'link', 'set', device, 'mtu', String(options.dropMtu ?? 65000), 'up');
    }
    await ip('-n', sender, 'addr', 'add', '10.201.0.1/24', 'dev', 'zca0');
    // zcb0 answers no ARP (everything it receives is dropped): the neighbour is fixed.
    await ip('-n', sender, 'neigh', 'replace', DROP_ADDRESS, 'lladdr', DROP_MAC, 'dev', 'zca0', 'nud', 'permanent');
    await ip('-n', sender, 'link', 'add', 'zca1', 'type', 'veth', 'peer', 'name', 'zcb1', 'netns', receiver);
    await ip('-n', sender, 'addr', 'add', '10.201.1.1/24', 'dev', 'zca1');
    await ip('-n', receiver, 'addr', 'add', `${RECEIVER_ADDRESS}/24`, 'dev', 'zcb1');
    await ip('-n', sender, 'link', 'set', 'zca1', 'up');
    await ip('-n', receiver, 'link', 'set', 'zcb1', 'up');
    if (options.rateMbit !== undefined) {
      for (const device of ['zca0', 'zca1']) {
        await run('tc', ['-n', sender, 'qdisc', 'add', 'dev', device, 'root', 'handle', '1:', 'htb', 'default', '1']);
        await run('tc', [
          '-n',
          sender,
          'class',
          'add',
          'dev',
          device,
          'parent',
          '1:',
          'classid',
          '1:1',
          'htb',
          'rate',
          `${options.rateMbit}mbit`,
        ]);
      }
    }
  } catch (error) {
    await close();
    return `cannot set up the veth pairs: ${(error as Error).message.split('\n')[0]}`;
  }
  for (const drop of ['tcx', 'xdp'] as const) {
    helper = spawn('ip', ['netns', 'exec', sender, binary, 'zcb0', drop], { stdio: ['pipe', 'pipe', 'pipe'] });
    let errors = '';
    helper.stderr?.on('data', (chunk: Buffer) => {
      errors += chunk.toString();
    });
    const attached = new Promise<boolean>((resolve) => {
      helper?.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().startsWith('attached')));
      helper?.once('exit', () => resolve(false));
    });
    if (await attached) return { sender, receiver, drop, close };
    if (drop === 'xdp') {
      await close();
      return `bpf() cannot attach a drop program to a veth (TCX or XDP): ${errors.trim()}`;
    }
  }
  await close();
  return 'unreachable';
}

/** The rig for one test, removed after it; undefined once the test is skipped with the reason. */
export async function vethRigOrSkip(
  t: TestContext,
  dir: string,
  options: { rateMbit?: number; dropMtu?: number } = {},
): Promise<VethRig | undefined> {
  const rig = await makeVethRig(dir, options);
  if (typeof rig === 'string') {
    t.skip(rig);
    return undefined;
  }
  t.after(() => rig.close());
  return rig;
}

/** Runs a Node script in `namespace` to its end; what it printed last, as JSON. */
export async function nodeInNamespace(
  namespace: string,
  script: string,
  args: string[],
  nodeFlags: string[] = [],
): Promise<Record<string, unknown>> {
  const { stdout } = await run('ip', ['netns', 'exec', namespace, process.execPath, ...nodeFlags, script, ...args], {
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string);
}
