// helm (built by test/k8s/tools/build.sh, path from test/k8s/tools.ts) for the chart tests:
// lint and template with values, output parsed into objects.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { k8sToolPaths } from '../k8s/tools.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const OPERATOR_CHART = join(REPO, 'charts/conflux-operator');
export const CLUSTER_CHART = join(REPO, 'charts/conflux-cluster');
/** The Kubernetes version helm renders for (the test control plane's). */
export const KUBE_VERSION = '1.34.0';

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: string[], env: Record<string, string> = {}): HelmResult {
  const bin = k8sToolPaths().helm;
  const home = mkdtempSync(join(tmpdir(), 'conflux-helm-home-'));
  try {
    // A private helm home: no user repositories or plugins leak in, nothing is left behind.
    const r = spawnSync(bin, args, {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data'), ...env },
    });
    if (r.error) throw new Error(`helm (${bin}): ${r.error.message} (build it with "make test-deps")`);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** A values file in a temp dir (removed by the returned cleanup). */
export function valuesFile(values: unknown): { path: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'conflux-values-'));
  const path = join(dir, 'values.yaml');
  // JSON is YAML.
  writeFileSync(path, JSON.stringify(values));
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** `helm template` of a chart with values; throws with helm's message when it fails. */
export function template(chart: string, o: { release?: string; namespace?: string; values?: unknown; extraArgs?: string[] } = {}): { objects: K8sObject[]; yaml: string } {
  const v = o.values === undefined ? null : valuesFile(o.values);
  try {
    const r = helm([
      'template',
      o.release ?? 'conflux',
      chart,
      '--namespace',
      o.namespace ?? 'conflux-system',
      '--kube-version',
      KUBE_VERSION,
      ...(v ? ['--values', v.path] : []),
      ...(o.extraArgs ?? []),
    ]);
    if (r.status !== 0) throw new HelmTemplateError(r.stderr.trim());
    // Plain objects (JSON round trip): the typed models of client-node are not what we compare.
    const objects = (loadAllYaml(r.stdout) as unknown[]).filter((x) => x !== null).map((x) => JSON.parse(JSON.stringify(x)) as K8sObject);
    return { objects, yaml: r.stdout };
  } finally {
    v?.cleanup();
  }
}

export class HelmTemplateError extends Error {
  readonly code = 'helm_template_failed';
}

export const find = (objects: K8sObject[], kind: string, name?: string): K8sObject[] =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
