// promtool on the alert rules (syntax, unit tests in test/prometheus/alerts.test.yaml), the
// dashboard's PromQL (every expression parsed by promtool as a recording rule), and the runbooks
// (every alert has its paragraph in docs/runbooks.md). Prometheus and promtool come from Debian's
// prometheus package (test/prometheus/ensure-deps.sh, run by `make test-deps`).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALERTS_PATH, alertRules, concreteExpr, loadDashboard, queryPanels } from './dashboard.js';

const REPO = resolve(import.meta.dirname, '../..');
const UNIT_TESTS = join(REPO, 'test/prometheus/alerts.test.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'conflux-promtool-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function promtool(args: string[], input?: string) {
  const r = spawnSync('promtool', args, { encoding: 'utf8', input, timeout: 60_000 });
  if (r.error) throw new Error(`promtool: ${r.error.message} (run "make test-deps": test/prometheus/ensure-deps.sh installs it)`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}


describe('alert rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', ALERTS_PATH]);
    expect(r.out).toContain(`SUCCESS: ${alertRules().length} rules found`);
    expect(r.status).toBe(0);
  });

  it('cover the alerts of the issue, each with a severity, a summary and a runbook URL', () => {
    const names = alertRules().map((r) => r.alert);
    expect(names).toEqual([
      'ConfluxNoLeader',
      'ConfluxQuorumAtRisk',
      'ConfluxLeaderChangesTooOften',
      'ConfluxFollowerLagGrowing',
      'ConfluxFsyncLatencyHigh',
      'ConfluxDiskNearlyFull',
      'ConfluxStoreNearQuota',
      'ConfluxConnectionsRefused',
      'ConfluxSnapshotFailures',
      'ConfluxOperatorReconcileErrors',
    ]);
    for (const r of alertRules()) {
      expect(['critical', 'warning']).toContain(r.labels?.severity);
      expect(r.annotations?.summary).toBeTruthy();
      expect(r.annotations?.runbook_url).toBe(`https://github.com/conflux/conflux/blob/main/docs/runbooks.md#${r.alert!.toLowerCase()}`);
    }
  });

  it('pass their promtool unit tests (test/prometheus/alerts.test.yaml)', () => {
    const r = promtool(['test', 'rules', UNIT_TESTS]);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('the unit tests fail when an alert no longer fires (a lag threshold of 5000 entries)', () => {
    // The same tests against a copy of the rules where the lag alert needs 5000 entries.
    const rules = readFileSync(ALERTS_PATH, 'utf8').replace('(conflux_replication_lag_entries) > 1000)', '(conflux_replication_lag_entries) > 5000)');
    expect(rules).toContain('> 5000)');
    const dir = join(tmp, 'broken');
    spawnSync('mkdir', ['-p', join(dir, 'charts/conflux-operator/files'), join(dir, 'test/prometheus')]);
    writeFileSync(join(dir, 'charts/conflux-operator/files/conflux-alerts.yaml'), rules);
    writeFileSync(join(dir, 'test/prometheus/alerts.test.yaml'), readFileSync(UNIT_TESTS, 'utf8'));
    const r = promtool(['test', 'rules', join(dir, 'test/prometheus/alerts.test.yaml')]);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('alertname: ConfluxFollowerLagGrowing');
  });

  it('each has a runbook paragraph in docs/runbooks.md under a heading that gives its anchor', () => {
    const runbooks = readFileSync(join(REPO, 'docs/runbooks.md'), 'utf8');
    for (const r of alertRules()) {
      const section = runbooks.split(/^### /m).find((s) => s.startsWith(`${r.alert}\n`));
      expect(section, `no "### ${r.alert}" in docs/runbooks.md`).toBeDefined();
      // A paragraph, not a stub: what it means and what to do.
      expect(section!.length).toBeGreaterThan(300);
    }
  });
});

describe('dashboard queries', () => {
  const dashboard = loadDashboard();

  it('cover what the issue lists, each panel with a title, a description and a query', () => {
    const titles = queryPanels(dashboard).map((p) => p.title);
    for (const wanted of [
      'Leader and term',
      'Commit and apply rate',
      'Write latency (PUT /v1/kv)',
      'Read latency (GET /v1/kv)',
      'Replication lag per follower',
      'Fsync latency',
      'Snapshot sizes',
      'Snapshot durations (1h average)',
      'Watchers',
      'HTTP errors by route',
      'Membership',
      'Operator reconciles',
    ]) {
      expect(titles).toContain(wanted);
    }
    for (const p of queryPanels(dashboard)) {
      expect(p.description, p.title).toBeTruthy();
      for (const t of p.targets) expect(t.expr.trim(), `${p.title} ${t.refId}`).not.toBe('');
    }
  });

  it('parse as PromQL (promtool check rules on every expression as a recording rule)', () => {
    const exprs = queryPanels(dashboard).flatMap((p) => p.targets.map((t) => concreteExpr(t.expr)));
    const file = join(tmp, 'dashboard-rules.yaml');
    const rules = exprs.map((e, i) => `      - record: conflux:dashboard_query_${i}\n        expr: ${JSON.stringify(e)}`).join('\n');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
    const r = promtool(['check', 'rules', file]);
    expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.status).toBe(0);
    // And a broken expression is caught by the same check.
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n      - record: x\n        expr: ${JSON.stringify('sum by (le (rate(x[1m]))')}\n`);
    expect(promtool(['check', 'rules', file]).status).not.toBe(0);
  });

  it('uses only the datasource, namespace and cluster variables', () => {
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'namespace', 'cluster']);
    expect(() => concreteExpr('rate(x{a="$nope"}[1m])')).toThrow(/unknown variable \$nope/);
  });
});
