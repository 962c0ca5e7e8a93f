import { fmt, times } from '../lib/group.js';
import type { Group, Metric, Row, ScenarioResult } from '../lib/types.js';
import type { RunReport } from './json.js';

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const COLORS: Record<Row['kind'], string> = {
  zerocopy: '#1f7a4d',
  node: '#3d6fb6',
  c: '#8a8f98',
  peer: '#c77b30',
};

/** Horizontal bars: median, with the min–max range as a whisker and the quartiles as a box. */
function chart(group: Group, metric: Metric): string {
  const rows = group.rows.filter((r) => Number.isFinite(r.summary[metric.key]?.median));
  if (rows.length === 0) return '';
  const longest = Math.max(...rows.map((r) => r.label.length));
  const labelW = Math.min(420, Math.max(180, Math.round(longest * 7.3) + 24));
  const valueW = 90;
  const plotW = 520;
  const barH = 18;
  const gap = 8;
  const top = 28;
  const height = top + rows.length * (barH + gap) + 8;
  const max = Math.max(...rows.map((r) => r.summary[metric.key]!.max)) * 1.05 || 1;
  const x = (v: number) => labelW + (v / max) * plotW;
  const parts: string[] = [];
  parts.push(
    `<text x="0" y="16" class="ct">${esc(metric.label)}${metric.unit ? ` (${esc(metric.unit)})` : ''} — ${
      metric.better === 'higher' ? 'higher is better' : 'lower is better'
    }; bar = median, box = quartiles, line = min–max</text>`,
  );
  rows.forEach((row, i) => {
    const s = row.summary[metric.key]!;
    const y = top + i * (barH + gap);
    const mid = y + barH / 2;
    const base = row.id === group.baseline;
    parts.push(
      `<text x="${labelW - 8}" y="${mid + 4}" text-anchor="end" class="cl${base ? ' b' : ''}">${esc(row.label)}</text>`,
    );
    parts.push(
      `<rect x="${labelW}" y="${y}" width="${Math.max(1, x(s.median) - labelW)}" height="${barH}" fill="${COLORS[row.kind]}" opacity="0.85" rx="2"/>`,
    );
    if (s.n > 1) {
      parts.push(`<line x1="${x(s.min)}" x2="${x(s.max)}" y1="${mid}" y2="${mid}" stroke="#222" stroke-width="1.5"/>`);
      parts.push(
        `<line x1="${x(s.min)}" x2="${x(s.min)}" y1="${y + 4}" y2="${y + barH - 4}" stroke="#222" stroke-width="1.5"/>`,
      );
      parts.push(
        `<line x1="${x(s.max)}" x2="${x(s.max)}" y1="${y + 4}" y2="${y + barH - 4}" stroke="#222" stroke-width="1.5"/>`,
      );
      parts.push(
        `<rect x="${x(s.q1)}" y="${y + 5}" width="${Math.max(1, x(s.q3) - x(s.q1))}" height="${barH - 10}" fill="none" stroke="#111" stroke-width="1"/>`,
      );
    }
    const r = row.ratios[metric.key];
    const ratioText = base ? ' · baseline' : Number.isFinite(r) ? ` · ${fmt(r)}x` : ' · no baseline';
    parts.push(`<text x="${labelW + plotW + 8}" y="${mid + 4}" class="cv">${fmt(s.median)}${ratioText}</text>`);
  });
  return `<svg class="chart" viewBox="0 0 ${labelW + plotW + valueW + 60} ${height}" width="100%" role="img" aria-label="${esc(metric.label)}">${parts.join('')}</svg>`;
}

function table(group: Group): string {
  const shown = group.metrics;
  const withSyscalls = group.rows.some((row) => row.syscalls !== undefined);
  const head = [
    '<th>Contender</th>',
    ...shown.map((m) => `<th>${esc(m.label)}${m.unit ? `<br><span class="u">${esc(m.unit)}</span>` : ''}</th>`),
    ...group.metrics
      .filter((m) => m.chart)
      .map((m) => `<th>${esc(m.label)}<br><span class="u">vs baseline</span></th>`),
    ...(withSyscalls ? ['<th>Syscalls<br><span class="u">per transfer</span></th>'] : []),
    '<th>n</th>',
  ].join('');
  const body = group.rows
    .map((row) => {
      const cells = shown.map((m) => {
        const s = row.summary[m.key];
        const spread = s && s.n > 1 ? `<span class="sp">${fmt(s.min)}–${fmt(s.max)}</span>` : '';
        return `<td>${fmt(s?.median)}${spread}</td>`;
      });
      const ratios = group.metrics
        .filter((m) => m.chart)
        .map((m) => {
          const r = row.ratios[m.key];
          const cls =
            row.id === group.baseline || r === undefined || !Number.isFinite(r)
              ? ''
              : r >= 1
                ? ' class="good"'
                : ' class="bad"';
          return `<td${cls}>${row.id === group.baseline ? 'baseline' : times(r)}</td>`;
        });
      const sys = row.syscalls
        ? `${fmt(row.syscalls.perTransfer, 1)}<span class="sp">${row.syscalls.top.map((t) => `${esc(t.name)} ${fmt(t.perTransfer, 1)}`).join(', ')}</span>`
        : '–';
      const detail = row.detail ? `<span class="sp">${esc(row.detail)}</span>` : '';
      return `<tr class="k-${row.kind}"><td class="name"><i style="background:${COLORS[row.kind]}"></i>${esc(row.label)}${detail}</td>${cells.join('')}${ratios.join('')}${withSyscalls ? `<td>${sys}</td>` : ''}<td>${row.summary[shown[0]!.key]?.n ?? 0}</td></tr>`;
    })
    .join('');
  return `<div class="tw"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

function scenario(result: ScenarioResult): string {
  const out: string[] = [`<section id="${esc(result.id)}"><h2>${esc(result.title)}</h2>`];
  out.push(`<p class="desc">${esc(result.description)}</p>`);
  if (result.headline && result.headline.length > 0) {
    out.push(`<div class="headline"><ul>${result.headline.map((h) => `<li>${esc(h)}</li>`).join('')}</ul></div>`);
  }
  if (result.claims && result.claims.length > 0) {
    out.push(
      '<h3>Against the published claims</h3><div class="tw"><table class="claims"><thead><tr><th>Claim</th><th>Published</th><th>Measured here</th><th></th></tr></thead><tbody>',
    );
    for (const c of result.claims) {
      out.push(
        `<tr><td>${esc(c.claim)}</td><td>${esc(c.published)}</td><td>${esc(c.ours)}</td><td class="v ${c.verdict.replace(' ', '-')}">${esc(c.verdict)}</td></tr>`,
      );
    }
    out.push('</tbody></table></div>');
  }
  if (result.skipped.length > 0) {
    out.push(
      `<div class="skipped"><b>Skipped</b><ul>${result.skipped.map((s) => `<li><b>${esc(s.contender)}</b>: ${esc(s.reason)}</li>`).join('')}</ul></div>`,
    );
  }
  for (const group of result.groups) {
    out.push(`<h3>${esc(group.title)}</h3>`);
    for (const metric of group.metrics.filter((m) => m.chart)) out.push(chart(group, metric));
    out.push(table(group));
    if (group.notes.length > 0)
      out.push(`<ul class="notes">${group.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  }
  if (result.notes.length > 0)
    out.push(`<ul class="notes">${result.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  out.push(`<p class="dur">Scenario time: ${fmt(result.durationS, 0)} s</p></section>`);
  return out.join('\n');
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2329;margin:0;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 6px;padding-top:12px;border-top:2px solid #d8dde3}
h3{font-size:15px;margin:22px 0 6px;color:#333}
.meta{color:#555;margin:0 0 14px}.meta code{background:#e9ecef;padding:1px 5px;border-radius:3px}
.desc{color:#444;max-width:980px}
.headline{background:#fff;border-left:4px solid #1f7a4d;padding:6px 14px;margin:10px 0;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.headline ul{margin:4px 0;padding-left:18px}.headline li{margin:3px 0}
.skipped{background:#fff7e6;border-left:4px solid #c77b30;padding:6px 14px;margin:10px 0}.skipped ul{margin:4px 0;padding-left:18px}
.chart{background:#fff;border:1px solid #e1e5ea;border-radius:4px;margin:6px 0;display:block;max-width:1000px}
.ct{font-size:12px;fill:#444}.cl{font-size:12px;fill:#222}.cl.b{font-weight:600}.cv{font-size:12px;fill:#222}
.tw{overflow-x:auto}
table{border-collapse:collapse;background:#fff;font-size:12.5px;margin:8px 0;border:1px solid #e1e5ea}
th,td{padding:5px 8px;border-bottom:1px solid #eceff2;text-align:right;vertical-align:top}
th{background:#eef1f4;font-weight:600;font-size:12px}td.name,th:first-child{text-align:left}
td.name i{display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:6px}
.sp{display:block;color:#777;font-size:11px}.u{font-weight:400;color:#666}
td.good{color:#1f7a4d;font-weight:600}td.bad{color:#b03a2e}
table.claims td,table.claims th{text-align:left;max-width:420px}.v{font-weight:700}.v.met{color:#1f7a4d}.v.not-met{color:#b03a2e}.v.n\\/a{color:#777}
.notes{color:#555;font-size:12.5px}.dur{color:#888;font-size:12px}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
dl.machine{display:grid;grid-template-columns:max-content auto;gap:2px 14px;background:#fff;padding:10px 14px;border:1px solid #e1e5ea;max-width:900px}
dl.machine dt{color:#666}dl.machine dd{margin:0}
`;

export function renderHtml(report: RunReport): string {
  const m = report.machine;
  const legend = (Object.keys(COLORS) as Row['kind'][])
    .map(
      (k) =>
        `<span><i style="background:${COLORS[k]}"></i>${{ zerocopy: 'zerocopy', node: 'Node (no zerocopy)', c: 'C reference', peer: 'other servers' }[k]}</span>`,
    )
    .join('');
  const toc = report.scenarios.map((s) => `<a href="#${esc(s.id)}">${esc(s.title)}</a>`).join(' · ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>zerocopy bench ${esc(report.startedAt)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${CSS}</style></head>
<body><main>
<h1>zerocopy benchmarks</h1>
<p class="meta">${esc(report.startedAt)} · <code>${esc(report.command)}</code> · ${report.options.quick ? '<b>--quick smoke run: small files, one repeat; not for conclusions</b>' : 'full run'}</p>
<dl class="machine">
<dt>Machine</dt><dd>${esc(m.cpuModel)}, ${m.cores} cores, ${m.memoryGiB} GiB</dd>
<dt>Kernel</dt><dd>${esc(m.kernel)}</dd>
<dt>Node</dt><dd>${esc(m.node)} (V8 ${esc(m.v8)})</dd>
<dt>Commit</dt><dd>${esc(m.commit ?? 'unknown')}</dd>
<dt>Load average at start</dt><dd>${m.loadAverage.join(' ')}</dd>
<dt>Thresholds</dt><dd>${
    Object.entries(report.thresholds)
      .map(([k, v]) => `${esc(k)} = ${v === null ? 'none found' : v}`)
      .join(', ') || '–'
  }</dd>
</dl>
<p class="meta">Every figure is a median of the repeats (fresh processes each), with min–max beneath; ratios are against the baseline measured in the same run. ${toc}</p>
<p class="legend">${legend}</p>
${report.scenarios.map(scenario).join('\n')}
</main></body></html>
`;
}
