// Draws the Grafana dashboard's panels from Prometheus query results: one SVG laid out like
// Grafana's grid (24 columns), converted to PNG by rsvg-convert (Debian's librsvg2-bin). The
// picture in docs/images/dashboard.png comes from a real scrape of a local cluster
// (`make dashboard-png` runs the Prometheus test with CONFLUX_DASHBOARD_PNG set).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concreteExpr, queryPanels, type Dashboard, type DashboardPanel } from './dashboard.js';
import type { PromSeries, TestPrometheus } from './prometheus.js';

export interface PanelData {
  panel: DashboardPanel;
  /** One line per returned series, legend already formatted. */
  lines: { legend: string; points: [number, number][] }[];
}

const COL = 64; // px per grid column (24 columns = 1536 px)
const ROW = 34; // px per grid row
const PAD = 8;
const PALETTE = ['#73bf69', '#f2cc0c', '#5794f2', '#ff9830', '#f2495c', '#b877d9', '#8ab8ff', '#fade2a', '#96d98d', '#ffb357'];

export function formatLegend(template: string | undefined, metric: Record<string, string>): string {
  if (!template) return Object.entries(metric).map(([k, v]) => `${k}=${v}`).join(', ') || 'value';
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => metric[k] ?? '');
}

/** A value in the panel's unit, short (Grafana-like). */
export function formatValue(v: number, unit = 'short'): string {
  if (!Number.isFinite(v)) return '-';
  const si = (x: number, suffix = '') => {
    const a = Math.abs(x);
    if (a >= 1e9) return `${(x / 1e9).toFixed(1)}G${suffix}`;
    if (a >= 1e6) return `${(x / 1e6).toFixed(1)}M${suffix}`;
    if (a >= 1e3) return `${(x / 1e3).toFixed(1)}k${suffix}`;
    if (a >= 10 || a === 0) return `${Math.round(x)}${suffix}`;
    return `${Number(x.toPrecision(2))}${suffix}`;
  };
  switch (unit) {
    case 's': {
      const a = Math.abs(v);
      if (a === 0) return '0';
      if (a < 1e-3) return `${Number((v * 1e6).toPrecision(3))} µs`;
      if (a < 1) return `${Number((v * 1e3).toPrecision(3))} ms`;
      return `${Number(v.toPrecision(3))} s`;
    }
    case 'bytes': {
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let x = v;
      let i = 0;
      while (Math.abs(x) >= 1024 && i < units.length - 1) {
        x /= 1024;
        i++;
      }
      return `${i === 0 ? Math.round(x) : x.toFixed(1)} ${units[i]}`;
    }
    case 'percentunit':
      return `${(v * 100).toFixed(1)}%`;
    case 'ops':
    case 'reqps':
      return si(v, '/s');
    default:
      return si(v);
  }
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function text(x: number, y: number, s: string, size: number, fill: string, anchor = 'start', weight = 'normal'): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-family="DejaVu Sans, sans-serif" font-size="${size}" fill="${fill}" text-anchor="${anchor}" font-weight="${weight}">${esc(s)}</text>`;
}

/** The top of a y axis with 4 round steps (0, 2, 4, 6, 8 for a maximum of 6). */
export function niceMax(v: number): number {
  if (v <= 0 || !Number.isFinite(v)) return 1;
  const step = v / 4;
  const p = 10 ** Math.floor(Math.log10(step));
  for (const m of [1, 2, 2.5, 5, 10]) if (step <= m * p) return 4 * m * p;
  return 40 * p;
}

function timeseries(d: PanelData, x: number, y: number, w: number, h: number): string {
  const unit = d.panel.fieldConfig?.defaults?.unit ?? 'short';
  const legendRows = Math.min(3, Math.ceil(d.lines.length / 3));
  const plot = { x: x + 62, y: y + 30, w: w - 62 - 12, h: h - 30 - 18 - legendRows * 15 };
  const all = d.lines.flatMap((l) => l.points);
  const finite = all.filter(([, v]) => Number.isFinite(v));
  const t0 = Math.min(...all.map(([t]) => t));
  const t1 = Math.max(...all.map(([t]) => t));
  const vmin = Math.min(0, ...finite.map(([, v]) => v));
  const vmax = niceMax(Math.max(...finite.map(([, v]) => v), 0));
  const sx = (t: number) => plot.x + ((t - t0) / Math.max(1, t1 - t0)) * plot.w;
  const sy = (v: number) => plot.y + plot.h - ((v - vmin) / Math.max(1e-12, vmax - vmin)) * plot.h;
  const out: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = vmin + ((vmax - vmin) * i) / 4;
    const yy = sy(v);
    out.push(`<line x1="${plot.x}" y1="${yy.toFixed(1)}" x2="${plot.x + plot.w}" y2="${yy.toFixed(1)}" stroke="#2c3235" stroke-width="1"/>`);
    out.push(text(plot.x - 6, yy + 4, formatValue(v, unit), 10, '#9fa7b3', 'end'));
  }
  for (let i = 0; i <= 3; i++) {
    const t = t0 + ((t1 - t0) * i) / 3;
    const label = new Date(t * 1000).toISOString().slice(11, 19);
    out.push(text(sx(t), plot.y + plot.h + 13, label, 10, '#9fa7b3', i === 0 ? 'start' : i === 3 ? 'end' : 'middle'));
  }
  d.lines.forEach((line, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    // Break the line at gaps (missing or NaN points), as Grafana does without "connect nulls".
    const segments: string[][] = [[]];
    for (const [t, v] of line.points) {
      if (!Number.isFinite(v)) {
        if (segments.at(-1)!.length > 0) segments.push([]);
        continue;
      }
      segments.at(-1)!.push(`${sx(t).toFixed(1)},${sy(v).toFixed(1)}`);
    }
    for (const s of segments) {
      if (s.length === 1) out.push(`<circle cx="${s[0]!.split(',')[0]}" cy="${s[0]!.split(',')[1]}" r="1.5" fill="${color}"/>`);
      if (s.length > 1) out.push(`<polyline points="${s.join(' ')}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    }
  });
  const perRow = 3;
  d.lines.slice(0, legendRows * perRow).forEach((line, i) => {
    const lx = x + 10 + (i % perRow) * ((w - 20) / perRow);
    const ly = y + h - 8 - (legendRows - 1 - Math.floor(i / perRow)) * 15;
    out.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${PALETTE[i % PALETTE.length]}"/>`);
    const maxChars = Math.floor((w - 20) / perRow / 6.2) - 3;
    const label = line.legend.length > maxChars ? `${line.legend.slice(0, maxChars - 1)}…` : line.legend;
    out.push(text(lx + 14, ly - 3, label, 10, '#ccccdc'));
  });
  if (d.lines.length > legendRows * perRow) out.push(text(x + w - 10, y + 18, `+${d.lines.length - legendRows * perRow} series`, 10, '#9fa7b3', 'end'));
  return out.join('');
}

function stat(d: PanelData, x: number, y: number, w: number, h: number): string {
  const unit = d.panel.fieldConfig?.defaults?.unit ?? 'short';
  // A stat shows the value at the end of the range: series that ended before (a former leader) do not count.
  const end = Math.max(...d.lines.flatMap((l) => l.points.map(([t]) => t)));
  const current = d.lines.filter((l) => l.points.some(([t, v]) => t === end && Number.isFinite(v)));
  const last = (pts: [number, number][]) => pts.find(([t]) => t === end)?.[1] ?? NaN;
  const showName = d.panel.title === 'Leader';
  const parts = current.map((l) => (showName ? l.legend : formatValue(last(l.points), unit)));
  const value = parts.length === 0 ? 'no data' : parts.join(' / ');
  return text(x + w / 2, y + h / 2 + 16, value, Math.min(30, Math.floor((w - 20) / Math.max(4, value.length) / 0.62)), '#73bf69', 'middle', 'bold');
}

/** The SVG of the dashboard: rows as headings, panels at their grid positions. */
export function dashboardSvg(dashboard: Dashboard, data: PanelData[], subtitle: string): string {
  const byId = new Map(data.map((d) => [d.panel.id, d]));
  const height = Math.max(...dashboard.panels.map((p) => (p.gridPos.y + p.gridPos.h) * ROW)) + 60;
  const width = 24 * COL + PAD;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="#111217"/>`,
    text(PAD + 4, 26, dashboard.title, 20, '#ccccdc', 'start', 'bold'),
    text(width - PAD - 4, 26, subtitle, 12, '#9fa7b3', 'end'),
  ];
  for (const p of dashboard.panels) {
    const x = p.gridPos.x * COL + PAD;
    const y = p.gridPos.y * ROW + 44;
    const w = p.gridPos.w * COL - PAD;
    const h = p.gridPos.h * ROW - PAD;
    if (p.type === 'row') {
      out.push(text(x + 2, y + 22, p.title, 15, '#ccccdc', 'start', 'bold'));
      continue;
    }
    out.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="3" fill="#181b1f" stroke="#2c3235"/>`);
    out.push(text(x + 10, y + 18, p.title, 12, '#ccccdc', 'start', 'bold'));
    const d = byId.get(p.id);
    if (!d || d.lines.length === 0) {
      out.push(text(x + w / 2, y + h / 2, 'no data', 14, '#9fa7b3', 'middle'));
      continue;
    }
    out.push(p.type === 'stat' ? stat(d, x, y, w, h) : timeseries(d, x, y, w, h));
  }
  out.push('</svg>');
  return out.join('\n');
}

/** Queries every panel over [start, end] and writes the dashboard as a PNG. */
export async function renderDashboardPng(
  prom: Pick<TestPrometheus, 'queryRange'>,
  dashboard: Dashboard,
  o: { start: number; end: number; out: string; rateInterval?: string },
): Promise<{ panels: number }> {
  const step = Math.max(1, Math.round((o.end - o.start) / 150));
  const data: PanelData[] = [];
  for (const panel of queryPanels(dashboard)) {
    const lines: PanelData['lines'] = [];
    for (const t of panel.targets) {
      const series: PromSeries[] = await prom.queryRange(concreteExpr(t.expr, o.rateInterval ?? '30s'), o.start, o.end, step);
      for (const s of series) lines.push({ legend: formatLegend(t.legendFormat, s.metric), points: s.values.map(([ts, v]) => [ts, Number(v)]) });
    }
    data.push({ panel, lines });
  }
  const subtitle = `a local 3-node cluster scraped by Prometheus, ${new Date(o.start * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC, ${Math.round((o.end - o.start) / 60)} min`;
  const dir = mkdtempSync(join(tmpdir(), 'conflux-dashboard-'));
  try {
    const svgPath = join(dir, 'dashboard.svg');
    writeFileSync(svgPath, dashboardSvg(dashboard, data, subtitle));
    const r = spawnSync('rsvg-convert', ['-f', 'png', '-o', o.out, svgPath], { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new Error(`rsvg-convert (Debian package librsvg2-bin): ${r.error?.message ?? r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { panels: data.length };
}
