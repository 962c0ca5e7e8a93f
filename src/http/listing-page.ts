// The text of a directory listing: an HTML page (no external assets, sortable, keyboard
// navigable, readable on a phone) or JSON, produced a batch of rows at a time. File names
// are attacker-controlled: every one is HTML-escaped for display and percent-encoded,
// byte by byte, for its href.
import { formatSize } from '../format-size.js';
import type { ListedEntry } from './listing-read.js';

/** Escapes text for HTML content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Bytes that stay as they are in a path segment; everything else is %XX (RFC 3986 unreserved). */
function unreserved(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) ||
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    byte === 0x2d ||
    byte === 0x2e ||
    byte === 0x5f ||
    byte === 0x7e
  );
}

/** One path segment percent-encoded from its bytes (a name that is not UTF-8 keeps its bytes). */
export function encodeSegment(name: Buffer): string {
  let out = '';
  for (const byte of name) {
    out += unreserved(byte) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A name for display: UTF-8 where it is, U+FFFD for bytes that are not. */
export const displayName = (name: Buffer): string => name.toString('utf8');

export interface ListingContext {
  /** The directory's URL path segments, decoded (for breadcrumbs). */
  segments: readonly string[];
  /** Entries shown at most. */
  limit: number;
}

function breadcrumbs(segments: readonly string[]): string {
  const parts = [`<a href="/">/</a>`];
  let href = '/';
  for (const segment of segments) {
    href += `${encodeSegment(Buffer.from(segment))}/`;
    parts.push(`<a href="${href}">${escapeHtml(segment)}</a>/`);
  }
  return parts.join(' ');
}

const STYLE = `:root{color-scheme:light dark;--fg:#1d1d1f;--muted:#6e6e73;--bg:#fff;--line:#e5e5ea;--hl:#e8f0fe;--link:#0a58ca}
@media (prefers-color-scheme:dark){:root{--fg:#f5f5f7;--muted:#a1a1a6;--bg:#161617;--line:#2c2c2e;--hl:#1d2b44;--link:#6ea8fe}}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.15rem;font-weight:600;margin:.5rem 0 1rem;word-break:break-all}h1 a{color:inherit;text-decoration:none}h1 a:hover{text-decoration:underline}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:.55rem .5rem;border-bottom:1px solid var(--line)}
th button{font:inherit;font-weight:600;color:var(--muted);background:none;border:0;padding:0;cursor:pointer}
th[aria-sort=ascending] button::after{content:" \\2191"}th[aria-sort=descending] button::after{content:" \\2193"}
td.size,td.modified,th.size,th.modified{white-space:nowrap;color:var(--muted);font-variant-numeric:tabular-nums}td.size,th.size{text-align:right}
td.name a{color:var(--link);text-decoration:none;word-break:break-all;display:block}td.name a:focus{outline:2px solid var(--link);outline-offset:2px}
tr:focus-within,tbody tr:hover{background:var(--hl)}.dir a{font-weight:600}
p.note{color:var(--muted)}
@media (max-width:36rem){th.modified,td.modified{display:none}td,th{padding:.75rem .35rem}}`;

// Sorting and keyboard navigation, inline (no external assets). Rows carry their sort keys.
const SCRIPT = `(()=>{const t=document.querySelector('tbody');const hs=[...document.querySelectorAll('th[data-key]')];
const links=()=>[...t.querySelectorAll('a')];
hs.forEach(h=>h.querySelector('button').addEventListener('click',()=>{const k=h.dataset.key;const d=h.getAttribute('aria-sort')==='ascending'?-1:1;
hs.forEach(o=>o.removeAttribute('aria-sort'));h.setAttribute('aria-sort',d>0?'ascending':'descending');
const rows=[...t.rows];rows.sort((a,b)=>{const x=a.dataset,y=b.dataset;if(x.dir!==y.dir)return x.dir==='1'?-1:1;
const u=k==='name'?x.name:Number(x[k]),v=k==='name'?y.name:Number(y[k]);return (u<v?-1:u>v?1:0)*d;});rows.forEach(r=>t.appendChild(r));}));
document.addEventListener('keydown',e=>{if(e.altKey||e.ctrlKey||e.metaKey)return;const l=links();if(!l.length)return;const i=l.indexOf(document.activeElement);
let n;if(e.key==='ArrowDown'||e.key==='j')n=i<0?0:Math.min(i+1,l.length-1);else if(e.key==='ArrowUp'||e.key==='k')n=i<0?0:Math.max(i-1,0);
else if(e.key==='Home')n=0;else if(e.key==='End')n=l.length-1;else if(e.key==='Backspace'){const up=document.querySelector('a[rel=up]');if(up){e.preventDefault();up.click();}return;}else return;
e.preventDefault();l[n].focus();});})();`;

/** The page up to the first row. */
export function htmlHead(context: ListingContext): string {
  const title = `/${context.segments.map((s) => `${s}/`).join('')}`;
  const up =
    context.segments.length === 0
      ? ''
      : `<tr data-dir="1" data-name="" data-size="-1" data-modified="0" class="dir"><td class="name"><a href="${baseHref(context.segments.slice(0, -1))}" rel="up">../</a></td><td class="size"></td><td class="modified"></td></tr>\n`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Index of ${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main><h1>Index of ${breadcrumbs(context.segments)}</h1>
<table><thead><tr><th class="name" data-key="name" aria-sort="ascending"><button type="button">Name</button></th><th class="size" data-key="size"><button type="button">Size</button></th><th class="modified" data-key="modified"><button type="button">Modified</button></th></tr></thead>
<tbody>
${up}`;
}

/** The directory's own URL path, percent-encoded, ending in '/': rows link from it. */
export function baseHref(segments: readonly string[]): string {
  return `/${segments.map((segment) => `${encodeSegment(Buffer.from(segment))}/`).join('')}`;
}

export function htmlRow(entry: ListedEntry, base: string): string {
  const shown = displayName(entry.name);
  const directory = entry.kind === 'directory';
  const slash = directory ? '/' : '';
  const href = `${base}${encodeSegment(entry.name)}${slash}`;
  const modified = new Date(entry.mtimeMs);
  const iso = Number.isNaN(modified.getTime()) ? '' : modified.toISOString();
  return `<tr data-dir="${directory ? 1 : 0}" data-name="${escapeHtml(shown)}" data-size="${entry.size ?? -1}" data-modified="${Math.trunc(entry.mtimeMs)}"${directory ? ' class="dir"' : ''}><td class="name"><a href="${escapeHtml(href)}">${escapeHtml(shown)}${slash}</a></td><td class="size">${entry.size === undefined ? '' : formatSize(entry.size)}</td><td class="modified"><time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')}</time></td></tr>\n`;
}

export function htmlTail(shown: number, truncated: boolean, context: ListingContext): string {
  const note = truncated
    ? `<p class="note">This directory has more than ${context.limit} entries: the first ${context.limit} read are shown.</p>`
    : `<p class="note">${shown} ${shown === 1 ? 'entry' : 'entries'}</p>`;
  return `</tbody></table>${note}</main><script>${SCRIPT}</script></body></html>\n`;
}

export function jsonHead(context: ListingContext): string {
  return `{"path":${JSON.stringify(`/${context.segments.map((s) => `${s}/`).join('')}`)},"entries":[`;
}

export function jsonEntry(entry: ListedEntry, first: boolean, base: string): string {
  const directory = entry.kind === 'directory';
  const value = {
    name: displayName(entry.name),
    href: `${base}${encodeSegment(entry.name)}${directory ? '/' : ''}`,
    type: entry.kind,
    size: entry.size ?? null,
    modified: Number.isNaN(entry.mtimeMs) ? null : new Date(entry.mtimeMs).toISOString(),
  };
  return `${first ? '' : ','}\n${JSON.stringify(value)}`;
}

export function jsonTail(truncated: boolean, context: ListingContext): string {
  return `\n],"truncated":${truncated},"limit":${context.limit}}\n`;
}
