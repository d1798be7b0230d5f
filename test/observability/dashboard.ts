// The Grafana dashboard's queries, as the tests and the PNG renderer use them: Grafana variables
// replaced by what a test Prometheus understands.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadYaml } from '@kubernetes/client-node';

export const DASHBOARD_PATH = resolve(import.meta.dirname, '../../charts/conflux-operator/dashboards/conflux.json');
export const ALERTS_PATH = resolve(import.meta.dirname, '../../charts/conflux-operator/files/conflux-alerts.yaml');

export interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Every rule of the chart's alerts file, in order. */
export function alertRules(path = ALERTS_PATH): AlertRule[] {
  return (loadYaml(readFileSync(path, 'utf8')) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);
}

export interface DashboardTarget {
  refId: string;
  expr: string;
  legendFormat?: string;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: DashboardTarget[];
  fieldConfig?: { defaults?: { unit?: string } };
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
}

export function loadDashboard(path = DASHBOARD_PATH): Dashboard {
  return JSON.parse(readFileSync(path, 'utf8')) as Dashboard;
}

/** Panels that query something (rows hold none). */
export function queryPanels(d: Dashboard): (DashboardPanel & { targets: DashboardTarget[] })[] {
  return d.panels.filter((p): p is DashboardPanel & { targets: DashboardTarget[] } => p.type !== 'row' && (p.targets?.length ?? 0) > 0);
}

/**
 * Grafana's variables in an expression, made concrete: `$namespace` / `$cluster` match anything
 * (what "All" sends), `$__rate_interval` becomes `rateInterval`. Anything else left is an error.
 */
export function concreteExpr(expr: string, rateInterval = '1m'): string {
  const out = expr
    .replaceAll('$__rate_interval', rateInterval)
    .replaceAll('"$namespace"', '".*"')
    .replaceAll('"$cluster"', '".*"');
  const left = /\$\w+/.exec(out);
  if (left) throw new Error(`unknown variable ${left[0]} in ${expr}`);
  return out;
}
