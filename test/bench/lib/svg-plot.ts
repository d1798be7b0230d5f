// A small hand-written SVG line chart: one panel per cluster size, throughput on x (linear) and
// p99 latency on y (log10), one polyline per series with labelled points. Pure: string in, string out.

export interface PlotPoint {
  x: number;
  y: number;
  label?: string;
}

export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: PlotPoint[];
}

export interface Panel {
  title: string;
  series: Series[];
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  panels: Panel[];
  panelWidth?: number;
  panelHeight?: number;
}

/** Round, evenly spaced ticks covering [0, max]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(max: number, target = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Decade ticks (1, 2, 5 per decade) covering [min, max] for a log axis. */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(Math.max(min, 1e-6)));
  const hi = Math.ceil(Math.log10(Math.max(max, min * 10, 1e-6)));
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) {
    for (const m of [1, 2, 5]) {
      const v = Number((m * 10 ** e).toPrecision(6));
      if (v >= min / 1.0001 && v <= max * 1.0001) ticks.push(v);
    }
  }
  return ticks;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  if (v >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

export function renderPlot(o: PlotOptions): string {
  const pw = o.panelWidth ?? 360;
  const ph = o.panelHeight ?? 300;
  const margin = { left: 58, right: 16, top: 40, bottom: 46 };
  const legendH = 28;
  const width = o.panels.length * (pw + margin.left + margin.right);
  const height = ph + margin.top + margin.bottom + legendH + 24;
  const allY = o.panels.flatMap((p) => p.series.flatMap((s) => s.points.map((pt) => pt.y))).filter((y) => y > 0);
  const yMin = allY.length ? 10 ** Math.floor(Math.log10(Math.min(...allY))) : 0.1;
  const yMax = allY.length ? 10 ** Math.ceil(Math.log10(Math.max(...allY))) : 100;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(o.title)}</text>`);
  o.panels.forEach((panel, i) => {
    const ox = i * (pw + margin.left + margin.right) + margin.left;
    const oy = margin.top + 10;
    const xMaxData = Math.max(0, ...panel.series.flatMap((s) => s.points.map((p) => p.x)));
    const xTicks = niceTicks(xMaxData * 1.05);
    const xMax = xTicks[xTicks.length - 1]!;
    const sx = (x: number): number => ox + (x / xMax) * pw;
    const ly = (y: number): number => Math.log10(Math.min(Math.max(y, yMin), yMax));
    const sy = (y: number): number => oy + ph - ((ly(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
    out.push(`<g class="panel">`);
    out.push(`<text x="${ox + pw / 2}" y="${oy - 8}" text-anchor="middle" font-size="13">${escapeXml(panel.title)}</text>`);
    out.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
    for (const t of xTicks) {
      const x = sx(t).toFixed(1);
      out.push(`<line x1="${x}" y1="${oy}" x2="${x}" y2="${oy + ph}" stroke="#eee"/>`);
      out.push(`<text x="${x}" y="${oy + ph + 14}" text-anchor="middle">${fmt(t)}</text>`);
    }
    for (const t of logTicks(yMin, yMax)) {
      const y = sy(t).toFixed(1);
      out.push(`<line x1="${ox}" y1="${y}" x2="${ox + pw}" y2="${y}" stroke="#eee"/>`);
      out.push(`<text x="${ox - 4}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
    }
    out.push(`<text x="${ox + pw / 2}" y="${oy + ph + 32}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
    out.push(`<text transform="translate(${ox - 44},${oy + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
    for (const s of panel.series) {
      if (s.points.length === 0) continue;
      // In the order given (the report's: by concurrency), so that a curve that bends back (more
      // clients, less throughput) shows it.
      const pts = s.points;
      const d = pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
      out.push(`<polyline class="series" points="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/>`);
      for (const p of pts) {
        const cx = sx(p.x).toFixed(1);
        const cy = sy(p.y).toFixed(1);
        out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"><title>${escapeXml(`${s.name} ${p.label ?? ''}: ${fmt(p.x)}/s, p99 ${fmt(p.y)} ms`)}</title></circle>`);
        if (p.label) out.push(`<text x="${cx}" y="${(Number(cy) - 6).toFixed(1)}" text-anchor="middle" font-size="9" fill="${s.color}">${escapeXml(p.label)}</text>`);
      }
    }
    out.push(`</g>`);
  });
  // One legend for all panels (every panel has the same series).
  const names = new Map<string, Series>();
  for (const p of o.panels) for (const s of p.series) if (!names.has(s.name)) names.set(s.name, s);
  let lx = margin.left;
  const ly0 = height - legendH + 4;
  for (const s of names.values()) {
    out.push(`<line x1="${lx}" y1="${ly0}" x2="${lx + 24}" y2="${ly0}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/>`);
    out.push(`<text x="${lx + 30}" y="${ly0}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
    lx += 40 + s.name.length * 6.5;
  }
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
