// The forms `-l/--listen` takes, as `serve` does: a port, `host:port`, `tcp://host:port`
// (IPv6 in brackets) or `unix:/path/to.sock`; and the URLs a server listening there answers.
import { networkInterfaces } from 'node:os';

export type ListenTarget = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

function port(text: string, spec: string): number {
  const value = Number(text);
  if (text === '' || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`--listen: '${spec}' has no valid port (0 to 65535)`);
  }
  return value;
}

/** Parses one --listen value; `defaultHost` is used for a bare port. */
export function parseListen(spec: string, defaultHost: string): ListenTarget {
  if (spec.startsWith('unix:')) {
    const path = spec.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new Error(`--listen: '${spec}' names no socket path`);
    return { kind: 'unix', path };
  }
  if (/^\d+$/.test(spec)) return { kind: 'tcp', host: defaultHost, port: port(spec, spec) };
  const rest = spec.startsWith('tcp://') ? spec.slice('tcp://'.length).replace(/\/$/, '') : spec;
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(rest);
  if (bracketed !== null) return { kind: 'tcp', host: bracketed[1]!, port: port(bracketed[2] ?? '', spec) };
  const colon = rest.lastIndexOf(':');
  if (colon === -1 || rest.indexOf(':') !== colon) {
    throw new Error(`--listen: '${spec}' is not a port, host:port, tcp://host:port or unix:/path`);
  }
  return { kind: 'tcp', host: rest.slice(0, colon) || defaultHost, port: port(rest.slice(colon + 1), spec) };
}

const hostInUrl = (address: string) => (address.includes(':') ? `[${address}]` : address);

/**
 * The URLs a TCP listener at `address` answers: itself, or every local address when it
 * listens on all of them (0.0.0.0: IPv4 ones; ::, IPv6 ones too).
 */
export function urlsFor(scheme: 'http' | 'https', address: string, listenPort: number): string[] {
  if (address !== '0.0.0.0' && address !== '::') return [`${scheme}://${hostInUrl(address)}:${listenPort}/`];
  const urls: string[] = [];
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.family === 'IPv6' && address === '0.0.0.0') continue;
      // Link-local IPv6 addresses need a zone to be reachable: not worth printing.
      if (info.family === 'IPv6' && info.address.toLowerCase().startsWith('fe80:')) continue;
      urls.push(`${scheme}://${hostInUrl(info.address)}:${listenPort}/`);
    }
  }
  return urls.length > 0 ? urls : [`${scheme}://${hostInUrl(address)}:${listenPort}/`];
}
