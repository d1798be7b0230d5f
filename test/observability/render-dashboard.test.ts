// The dashboard renderer's pure parts: units, legends, axis tops, and the SVG layout (every
// panel of the dashboard drawn where Grafana's grid puts it, "no data" where nothing came back).
import { describe, expect, it } from 'vitest';
import { loadDashboard, queryPanels } from './dashboard.js';
import { dashboardSvg, formatLegend, formatValue, niceMax, type PanelData } from './render-dashboard.js';

describe('dashboard renderer', () => {
  it('formats values in the panel units', () => {
    expect(formatValue(0.0042, 's')).toBe('4.2 ms');
    expect(formatValue(0.00005, 's')).toBe('50 µs');
    expect(formatValue(2.5, 's')).toBe('2.5 s');
    expect(formatValue(100 * 1024, 'bytes')).toBe('100.0 KiB');
    expect(formatValue(0.256, 'percentunit')).toBe('25.6%');
    expect(formatValue(1500, 'ops')).toBe('1.5k/s');
    expect(formatValue(7, 'short')).toBe('7');
    expect(formatValue(Number.NaN)).toBe('-');
  });

  it('fills legends from series labels', () => {
    expect(formatLegend('p99 {{instance}}', { instance: 'n1:7070' })).toBe('p99 n1:7070');
    expect(formatLegend('{{ code }} {{route}}', { code: '404', route: '/v1/kv/{key}' })).toBe('404 /v1/kv/{key}');
    expect(formatLegend(undefined, { a: '1' })).toBe('a=1');
  });

  it('puts y axes on round steps', () => {
    expect(niceMax(6)).toBe(8);
    expect(niceMax(1200)).toBe(2000);
    expect(niceMax(0.2)).toBe(0.2);
    expect(niceMax(0)).toBe(1);
  });

  it('lays out every panel of the dashboard, with data or "no data"', () => {
    const dashboard = loadDashboard();
    const panels = queryPanels(dashboard);
    const data: PanelData[] = [
      { panel: panels.find((p) => p.title === 'Term')!, lines: [{ legend: 'term', points: [[100, 5], [110, 6]] }] },
      {
        panel: panels.find((p) => p.title === 'Leader')!,
        // The former leader's series ends before the range does: only the current one is shown.
        lines: [
          { legend: 'old:1', points: [[100, 1]] },
          { legend: 'new:2', points: [[110, 1]] },
        ],
      },
      {
        panel: panels.find((p) => p.title === 'Replication lag per follower')!,
        lines: [{ legend: 'n2', points: [[100, 0], [105, 700], [110, Number.NaN], [115, 10]] }],
      },
    ];
    const svg = dashboardSvg(dashboard, data, 'test');
    for (const p of dashboard.panels) expect(svg).toContain(`>${p.title.replace(/&/g, '&amp;')}</text>`);
    expect(svg).toContain('>6</text>');
    expect(svg).toContain('>new:2</text>');
    expect(svg).not.toContain('old:1');
    // The NaN splits the lag line in two (a line and a lone point).
    expect(svg.match(/<polyline/g)).toHaveLength(1);
    expect(svg).toContain('<circle');
    expect(svg.match(/>no data</g)).toHaveLength(panels.length - 3);
  });
});
