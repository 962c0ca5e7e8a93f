// Conditional requests (RFC 9110 §13): validators and the order in which preconditions are evaluated.
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';

import fresh from 'fresh';

/**
 * A strong ETag from device, inode, size and mtime in nanoseconds, hashed so that inode
 * numbers do not leak. Strong (not `W/`, as the `etag` package makes for file stats) because
 * If-Range and If-Match only accept strong validators: with a weak ETag a client could never
 * resume a download by ETag. Two different contents with the same inode, size and
 * nanosecond mtime would need a write that keeps all three, which editors and deploys do not do.
 */
export function strongEtag(stat: BigIntStats): string {
  const digest = createHash('sha1')
    .update(`${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}`)
    .digest('base64url')
    .slice(0, 22);
  return `"${digest}"`;
}

/** What the preconditions say, in RFC 9110 §13.2.2 order. */
export type ConditionalOutcome = 'proceed' | 'not-modified' | 'precondition-failed';

interface Validators {
  etag: string | undefined;
  lastModified: string | undefined;
}

function splitEntityTags(list: string): string[] {
  // Entity tags cannot contain commas (etagc excludes them), so a split is exact.
  return list
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag !== '');
}

function isWeak(tag: string): boolean {
  return tag.startsWith('W/');
}

/** Strong comparison (§8.8.3.2): both strong and identical. */
export function strongMatch(a: string, b: string): boolean {
  return !isWeak(a) && !isWeak(b) && a === b;
}

/** An HTTP-date as milliseconds, or undefined when it does not parse (then the header is ignored). */
function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

/**
 * Evaluates If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since against the
 * response's validators, for a GET or HEAD of an existing file. If-None-Match and
 * If-Modified-Since (including "If-Modified-Since is ignored when If-None-Match is
 * present", "*", lists and weak comparison) are fresh's, the same rules send and
 * Express use.
 */
export function evaluatePreconditions(headers: IncomingHttpHeaders, validators: Validators): ConditionalOutcome {
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined) {
    // Step 1: If-Match uses strong comparison; "*" matches any current representation.
    if (ifMatch.trim() !== '*') {
      const current = validators.etag;
      if (current === undefined || !splitEntityTags(ifMatch).some((tag) => strongMatch(tag, current))) {
        return 'precondition-failed';
      }
    }
  } else {
    // Step 2: If-Unmodified-Since, only when If-Match is absent; an invalid date is ignored.
    const since = parseHttpDate(headers['if-unmodified-since']);
    const modified = parseHttpDate(validators.lastModified);
    if (since !== undefined && modified !== undefined && modified > since) return 'precondition-failed';
  }

  // Steps 3 and 4 for GET/HEAD: a match means 304.
  const responseHeaders: Record<string, string> = {};
  if (validators.etag !== undefined) responseHeaders.etag = validators.etag;
  if (validators.lastModified !== undefined) responseHeaders['last-modified'] = validators.lastModified;
  if (fresh(headers, responseHeaders)) return 'not-modified';
  return 'proceed';
}

/**
 * If-Range (§13.1.5): the Range applies only if the validator still matches. An entity tag
 * must match strongly; a date must equal Last-Modified exactly. Anything else (weak tag,
 * unparseable date) means "send the whole thing".
 */
export function rangeStillValid(ifRange: string | undefined, validators: Validators): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    return validators.etag !== undefined && strongMatch(value, validators.etag);
  }
  const date = parseHttpDate(value);
  const modified = parseHttpDate(validators.lastModified);
  return date !== undefined && modified !== undefined && date === modified;
}
