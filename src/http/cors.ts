// CORS for a static server: `*` (the same header on every response, so the native front can
// keep it in its cached head) or a list of origins (the answer depends on the request's
// Origin: `Vary: Origin`, and requests carrying Origin are answered by node:http).
import type { IncomingMessage, ServerResponse } from 'node:http';

export type CorsOption = boolean | '*' | string | readonly string[];

export interface CorsPolicy {
  /** undefined: any origin (`*`). */
  origins: ReadonlySet<string> | undefined;
}

const PREFLIGHT_MAX_AGE = '86400';
const ALLOWED_METHODS = 'GET, HEAD, OPTIONS';

/** From the option: false/undefined none, true or '*' any origin, 'a,b' or [a, b] a list. */
export function corsPolicyOf(option: CorsOption | undefined): CorsPolicy | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true || option === '*') return { origins: undefined };
  const list = (typeof option === 'string' ? option.split(',') : [...option]).map((o) => o.trim()).filter(Boolean);
  if (list.includes('*')) return { origins: undefined };
  if (list.length === 0) throw new TypeError('cors: the origin list is empty');
  for (const origin of list) {
    if (!/^https?:\/\/[^/\s]+$/i.test(origin)) {
      throw new TypeError(`cors: '${origin}' is not an origin (scheme://host[:port], no path)`);
    }
  }
  return { origins: new Set(list.map((o) => o.toLowerCase())) };
}

/**
 * The fields every response for a file carries, whatever the request: what the native front
 * may keep in a cached head.
 */
export function corsStaticFields(policy: CorsPolicy): string[] {
  return policy.origins === undefined ? ['Access-Control-Allow-Origin', '*'] : ['Vary', 'Origin'];
}

/** The Access-Control-Allow-Origin for this request, if any. */
function allowedOrigin(policy: CorsPolicy, origin: string | undefined): string | undefined {
  if (policy.origins === undefined) return '*';
  if (origin === undefined) return undefined;
  return policy.origins.has(origin.toLowerCase()) ? origin : undefined;
}

/**
 * Sets Access-Control-Allow-Origin on `res` (not for a preflight). `Vary: Origin` comes with
 * the file's own fields (corsStaticFields()), in the same place as in a cached head.
 */
export function setCorsHeaders(res: ServerResponse, policy: CorsPolicy, req: IncomingMessage): void {
  const allowed = allowedOrigin(policy, req.headers.origin);
  if (allowed !== undefined) res.setHeader('Access-Control-Allow-Origin', allowed);
}

/** A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method. */
export function isPreflight(req: IncomingMessage): boolean {
  return (
    req.method === 'OPTIONS' &&
    req.headers.origin !== undefined &&
    req.headers['access-control-request-method'] !== undefined
  );
}

/** Answers a preflight: 204 with what is allowed, or 204 without allowance for an origin not listed. */
export function answerPreflight(res: ServerResponse, policy: CorsPolicy, req: IncomingMessage): void {
  const allowed = allowedOrigin(policy, req.headers.origin);
  const headers: Record<string, string> = { 'Content-Length': '0' };
  if (policy.origins !== undefined) headers.Vary = 'Origin, Access-Control-Request-Headers';
  else headers.Vary = 'Access-Control-Request-Headers';
  if (allowed !== undefined) {
    headers['Access-Control-Allow-Origin'] = allowed;
    headers['Access-Control-Allow-Methods'] = ALLOWED_METHODS;
    const asked = req.headers['access-control-request-headers'];
    if (typeof asked === 'string' && /^[\w\s,-]*$/.test(asked) && asked.trim() !== '') {
      headers['Access-Control-Allow-Headers'] = asked;
    }
    headers['Access-Control-Max-Age'] = PREFLIGHT_MAX_AGE;
  }
  res.writeHead(204, headers);
  res.end();
}
