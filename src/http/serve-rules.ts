// The path rules of serve.json (serve-handler's format): redirects, rewrites, headers, clean
// URLs and trailing slashes. A source is a glob (picomatch, minimatch's syntax) or, when it
// names segments (`/projects/:id/edit`) and has no glob characters, a path-to-regexp route
// whose segments fill the `:id` of the destination.
import { match as routeMatcher } from 'path-to-regexp';
import picomatch from 'picomatch';

export interface RewriteRule {
  source: string;
  destination: string;
}
export interface RedirectRule extends RewriteRule {
  /** 301 (default), 302, 307 or 308. */
  type?: number;
}
export interface HeaderRule {
  source: string;
  headers: ReadonlyArray<{ key: string; value: string }>;
}

/** Matches a path ('/'-led, decoded) and gives the named segments it captured. */
type Matcher = (path: string) => Record<string, string> | undefined;

const GLOB_CHARS = /[*?[\]{}()!+@]/;

const slashed = (path: string) => (path.startsWith('/') ? path : `/${path}`);

/** A glob of serve.json (minimatch's reading) as a test of '/'-led paths. */
export function globMatcher(glob: string): (path: string) => boolean {
  const matches = picomatch(glob.replace(/^\/+/, ''));
  return (path) => matches(path.replace(/^\/+/, ''));
}

/** A source as a matcher; throws a TypeError naming the source when it is not one. */
export function compileSource(source: string, where: string): Matcher {
  if (typeof source !== 'string' || source === '') throw new TypeError(`${where}: source must be a non-empty string`);
  const pattern = slashed(source);
  if (pattern.includes(':') && !GLOB_CHARS.test(pattern)) {
    let route: ReturnType<typeof routeMatcher>;
    try {
      route = routeMatcher(pattern, { decode: false });
    } catch (error) {
      throw new TypeError(`${where}: source '${source}' is not a route: ${(error as Error).message}`);
    }
    return (path) => {
      const found = route(path);
      if (found === false) return undefined;
      const params: Record<string, string> = {};
      for (const [name, value] of Object.entries(found.params)) {
        if (typeof value === 'string') params[name] = value;
      }
      return params;
    };
  }
  // Without the leading slash on either side: picomatch's `/**/` needs a directory in between,
  // where minimatch's (which serve-handler uses) also matches none ('/**/*.png' matches '/a.png').
  const glob = picomatch(pattern.slice(1));
  return (path) => (glob(path.replace(/^\/+/, '')) ? {} : undefined);
}

/** `destination` with its `:name` segments filled from `params` (percent-encoded). */
function fill(destination: string, params: Record<string, string>): string {
  return destination.replace(/:([A-Za-z_$][\w$]*)/g, (whole, name: string) =>
    params[name] === undefined ? whole : encodeURIComponent(params[name]),
  );
}

const isExternal = (destination: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(destination);

interface Compiled<T> {
  rule: T;
  matches: Matcher;
}

export interface ServeRulesConfig {
  redirects?: readonly RedirectRule[];
  rewrites?: readonly RewriteRule[];
  headers?: readonly HeaderRule[];
  /** true: every path; a list of globs: paths under them. */
  cleanUrls?: boolean | readonly string[];
  /** true adds a slash to paths without an extension, false removes it; undefined leaves paths alone. */
  trailingSlash?: boolean;
}

const REDIRECT_TYPES = new Set([301, 302, 303, 307, 308]);

/** Where a request path is redirected before any file is looked up, if anywhere. */
export interface RedirectTo {
  status: number;
  location: string;
}

export class ServeRules {
  readonly #redirects: Array<Compiled<RedirectRule>>;
  readonly #rewrites: Array<Compiled<RewriteRule>>;
  readonly #headers: Array<Compiled<HeaderRule>>;
  readonly #cleanUrls: Matcher | boolean;
  readonly #trailingSlash: boolean | undefined;

  constructor(config: ServeRulesConfig) {
    this.#redirects = (config.redirects ?? []).map((rule, i) => {
      const where = `redirects[${i}]`;
      if (typeof rule?.destination !== 'string') throw new TypeError(`${where}: destination must be a string`);
      if (rule.type !== undefined && !REDIRECT_TYPES.has(rule.type)) {
        throw new TypeError(`${where}: type must be 301, 302, 303, 307 or 308, not ${String(rule.type)}`);
      }
      return { rule, matches: compileSource(rule.source, where) };
    });
    this.#rewrites = (config.rewrites ?? []).map((rule, i) => {
      const where = `rewrites[${i}]`;
      if (typeof rule?.destination !== 'string') throw new TypeError(`${where}: destination must be a string`);
      return { rule, matches: compileSource(rule.source, where) };
    });
    this.#headers = (config.headers ?? []).map((rule, i) => {
      const where = `headers[${i}]`;
      if (!Array.isArray(rule?.headers)) throw new TypeError(`${where}: headers must be an array of { key, value }`);
      for (const header of rule.headers) {
        if (
          typeof header?.key !== 'string' ||
          typeof header.value !== 'string' ||
          !/^[!#$%&'*+.^_`|~\w-]+$/.test(header.key)
        ) {
          throw new TypeError(`${where}: every header needs a field-name key and a string value`);
        }
        if (/[\r\n\0]/.test(header.value)) throw new TypeError(`${where}: header '${header.key}' has a line break`);
      }
      return { rule, matches: compileSource(rule.source, where) };
    });
    const clean = config.cleanUrls ?? false;
    if (typeof clean === 'boolean') this.#cleanUrls = clean;
    else {
      const matchers = clean.map((glob, i) => compileSource(glob, `cleanUrls[${i}]`));
      this.#cleanUrls = (path) => (matchers.some((m) => m(path) !== undefined) ? {} : undefined);
    }
    this.#trailingSlash = config.trailingSlash;
  }

  /** Whether any rule may change what a path answers (then the native front must not answer it blindly). */
  get hasPathRules(): boolean {
    return this.#redirects.length > 0 || this.#cleanUrls !== false || this.#trailingSlash !== undefined;
  }

  /** serve.json's trailingSlash: undefined when paths are left alone. */
  get trailingSlash(): boolean | undefined {
    return this.#trailingSlash;
  }

  get hasRewrites(): boolean {
    return this.#rewrites.length > 0;
  }

  /** Whether `.html` may be left out of paths under `path` (clean URLs). */
  cleanUrlsFor(path: string): boolean {
    return typeof this.#cleanUrls === 'boolean' ? this.#cleanUrls : this.#cleanUrls(path) !== undefined;
  }

  /**
   * The redirect of `path` (decoded, '/'-led): clean URLs first (`/about.html` and
   * `/dir/index` lose their ending), then trailing slashes, then the redirect rules; one
   * redirect at most, with a path-absolute Location. `query` is kept.
   */
  redirectFor(path: string, query: string): RedirectTo | undefined {
    let target = path;
    let cleaned = false;
    if (this.cleanUrlsFor(path) && /(\.html|\/index)$/.test(path)) {
      target = path.replace(/\.html$/, '').replace(/\/index$/, '') || '/';
      cleaned = true;
    }
    if (this.#trailingSlash !== undefined) {
      const last = target.slice(target.lastIndexOf('/') + 1);
      const trailed = target.endsWith('/');
      if (!this.#trailingSlash && trailed && target !== '/') target = target.replace(/\/+$/, '') || '/';
      else if (this.#trailingSlash && !trailed && !last.includes('.')) target = `${target}/`;
    }
    if (cleaned || target !== path) return { status: 301, location: encodePath(target) + query };
    for (const { rule, matches } of this.#redirects) {
      const params = matches(path);
      if (params === undefined) continue;
      const destination = fill(rule.destination, params);
      return {
        status: rule.type ?? 301,
        location: isExternal(destination) ? destination : encodePath(slashed(destination)) + query,
      };
    }
    return undefined;
  }

  /** The path `path` is rewritten to (rules applied in turn, each once, as serve-handler does), if any. */
  rewrite(path: string): string | undefined {
    let current = path;
    let rewritten = false;
    const left = [...this.#rewrites];
    for (let i = 0; i < left.length; ) {
      const params = left[i]!.matches(current);
      if (params === undefined) {
        i++;
        continue;
      }
      current = slashed(fill(left[i]!.rule.destination, params));
      rewritten = true;
      left.splice(i, 1);
      i = 0;
    }
    return rewritten ? current : undefined;
  }

  /** The configured header fields for a file at `path` ('/'-led, relative to the root): [name, value, ...]. */
  headersFor(path: string): string[] {
    const fields: string[] = [];
    for (const { rule, matches } of this.#headers) {
      if (matches(path) === undefined) continue;
      for (const { key, value } of rule.headers) fields.push(key, value);
    }
    return fields;
  }

  get hasHeaders(): boolean {
    return this.#headers.length > 0;
  }
}

/** A decoded path percent-encoded for a Location: never protocol-relative. */
export function encodePath(path: string): string {
  const safe = `/${path.replace(/^\/+/, '')}`;
  return safe
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%40/g, '@').replace(/%3A/gi, ':'))
    .join('/');
}
