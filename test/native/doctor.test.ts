import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';

import { binding } from '../../src/binding/load.js';
import { addonStatus, type Capabilities, probeCapabilities } from '../../src/index.js';
import { cliEntry, openDescriptorCount, runNode } from '../support/fixtures.js';
import { datagramPair } from '../support/transfer.js';

const SYSCALLS = ['sendfile', 'splice', 'tee', 'vmsplice', 'copy_file_range', 'memfd_create', 'process_vm_readv'];

const probeLeftovers = () => readdirSync(tmpdir()).filter((name) => name.startsWith('.zerocopy-probe-'));

function assertProbe(value: unknown, where: string): void {
  assert.equal(typeof value, 'object', where);
  const probe = value as Record<string, unknown>;
  assert.equal(typeof probe.available, 'boolean', `${where}.available`);
  assert.equal(typeof probe.detail, 'string', `${where}.detail`);
  assert.ok((probe.detail as string).length > 0, `${where}.detail is empty`);
  if (probe.code !== undefined) assert.match(probe.code as string, /^E[A-Z0-9]+$/, `${where}.code`);
}

describe('probeCapabilities', () => {
  it('describes this machine with the documented shape', () => {
    const capabilities = probeCapabilities();
    assert.equal(capabilities.platform, 'linux');
    assert.equal(capabilities.node, process.version);
    assert.match(capabilities.kernel, /^\d+\.\d+/);
    assertProbe(capabilities.addon, 'addon');
    assert.equal(capabilities.addon.available, addonStatus().available);
    assert.deepEqual(Object.keys(capabilities.syscalls).sort(), [...SYSCALLS].sort());
    for (const [name, probe] of Object.entries(capabilities.syscalls)) assertProbe(probe, `syscalls.${name}`);
    for (const key of [
      'ioUring',
      'frontEngine',
      'socketZeroCopy',
      'udpSegmentation',
      'kernelTls',
      'copyFileRangeAcrossFileSystems',
      'reflink',
    ] as const) {
      assertProbe(capabilities[key], key);
    }
    assert.deepEqual(Object.keys(capabilities.ioUring.opcodes).sort(), ['sendZeroCopy', 'splice', 'tee']);
    assertProbe(capabilities.channels, 'channels');
    for (const key of ['sealing', 'futex', 'pidfd'] as const)
      assertProbe(capabilities.channels[key], `channels.${key}`);
    assert.equal(typeof capabilities.fileSystems.cwd, 'string');
    assert.equal(typeof capabilities.fileSystems.tmp, 'string');
  });

  it('finds the calls every supported kernel has (Linux 5.3+)', () => {
    const { syscalls } = probeCapabilities();
    for (const name of SYSCALLS) {
      assert.equal(
        syscalls[name as keyof Capabilities['syscalls']].available,
        true,
        `${name}: ${syscalls[name as keyof Capabilities['syscalls']].detail}`,
      );
    }
  });

  it('reads pipe-max-size and the locked-memory limit from /proc', () => {
    const capabilities = probeCapabilities();
    assert.equal(capabilities.pipeMaxSize, Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8')));
    assert.ok(capabilities.lockedMemoryLimit !== null);
    for (const limit of [capabilities.lockedMemoryLimit.soft, capabilities.lockedMemoryLimit.hard]) {
      assert.ok(limit === 'unlimited' || (Number.isInteger(limit) && limit >= 0), String(limit));
    }
  });

  it('reports copy_file_range across tmp and cwd as available when both are one file system', () => {
    const capabilities = probeCapabilities();
    const sameDevice = statSync(tmpdir()).dev === statSync(process.cwd()).dev;
    if (sameDevice) assert.equal(capabilities.copyFileRangeAcrossFileSystems.available, true);
    else assert.equal(typeof capabilities.copyFileRangeAcrossFileSystems.available, 'boolean');
  });

  it('reports reflink as unavailable, with the errno, on a file system without it', (t) => {
    const capabilities = probeCapabilities();
    if (capabilities.reflink.available) {
      t.diagnostic(`cwd is on ${capabilities.fileSystems.cwd}, which has reflinks`);
      return;
    }
    assert.ok(
      ['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL'].includes(capabilities.reflink.code ?? ''),
      JSON.stringify(capabilities.reflink),
    );
  });

  it('says UDP_SEGMENT works exactly where a segmented send over loopback does', async (t) => {
    const { udpSegmentation } = probeCapabilities();
    assertProbe(udpSegmentation, 'udpSegmentation');
    const { sender, received } = await datagramPair(t);
    const fd = (sender as unknown as { _handle: { fd: number } })._handle.fd;
    const native = binding();
    const sent = native.sendSegments(fd, Buffer.alloc(3000, 5), native.constants.MSG_DONTWAIT, 1000);
    if (!udpSegmentation.available) {
      assert.ok(sent < 0, `doctor says no (${udpSegmentation.detail}), and the send is refused`);
      return;
    }
    assert.equal(sent, 3000, udpSegmentation.detail);
    for (let i = 0; i < 100 && received.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(
      received.map((datagram) => datagram.length),
      [1000, 1000, 1000],
      'one send, three datagrams',
    );
  });

  it('leaves no scratch files and no open descriptors behind', () => {
    const before = openDescriptorCount();
    const leftoversBefore = probeLeftovers().length;
    probeCapabilities();
    assert.equal(openDescriptorCount(), before);
    assert.equal(probeLeftovers().length, leftoversBefore);
  });
});

describe('zerocopy doctor', () => {
  it('--json prints the capabilities as JSON', async () => {
    const { code, stdout, stderr } = await runNode([cliEntry, 'doctor', '--json']);
    assert.equal(code, 0, stderr);
    const printed = JSON.parse(stdout) as Capabilities;
    const here = probeCapabilities();
    assert.deepEqual(Object.keys(printed).sort(), Object.keys(here).sort());
    assert.deepEqual(Object.keys(printed.syscalls).sort(), [...SYSCALLS].sort());
    for (const name of SYSCALLS) {
      const key = name as keyof Capabilities['syscalls'];
      assert.equal(printed.syscalls[key].available, here.syscalls[key].available, name);
    }
  });

  it('prints a table that mentions each system call and what it found', async () => {
    const { code, stdout, stderr } = await runNode([cliEntry, 'doctor']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^zerocopy doctor: linux /);
    for (const name of [
      ...SYSCALLS,
      'io_uring',
      'SO_ZEROCOPY',
      'UDP_SEGMENT',
      'kernel TLS',
      'reflink',
      'pipe-max-size',
    ]) {
      assert.match(stdout, new RegExp(`^${name.replace(/[()]/g, '\\$&')}.*\\s(yes|no)?\\s`, 'm'), name);
    }
    for (const name of SYSCALLS) assert.match(stdout, new RegExp(`^${name}\\s+yes\\s`, 'm'), name);
  });

  it('says which send mode transfer() would use for a Buffer into a socket, and why', async () => {
    const { code, stdout, stderr } = await runNode([cliEntry, 'doctor']);
    assert.equal(code, 0, stderr);
    const here = probeCapabilities();
    assert.equal(here.sendMode.available, here.socketZeroCopy.available);
    assert.equal(here.sendMode.mode, here.socketZeroCopy.available ? 'msg_zerocopy' : 'plain');
    const expected = here.socketZeroCopy.available
      ? /^ {2}send mode\s+yes\s+MSG_ZEROCOPY for sends of 32 KiB or more .*COPIED.*plain sends/m
      : /^ {2}send mode\s+no\s+plain sends: /m;
    assert.match(stdout, expected);
  });

  it('--help prints the usage and exits 0; no command exits 1', async () => {
    const help = await runNode([cliEntry, '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: zerocopy <command>/);
    assert.equal((await runNode([cliEntry])).code, 1);
  });

  it('an unknown command or option exits 2 with a message on stderr', async () => {
    const command = await runNode([cliEntry, 'frobnicate']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /unknown command 'frobnicate'/);
    const option = await runNode([cliEntry, 'doctor', '--yaml']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /--yaml/);
  });

  it('--help prints its usage and exits 0', async () => {
    const { code, stdout } = await runNode([cliEntry, 'doctor', '--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: zerocopy doctor \[--json\]/);
  });
});
