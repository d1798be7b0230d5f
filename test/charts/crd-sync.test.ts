// The charts follow the generated CRD: the operator chart's crds/ copy is byte-identical to
// crds/confluxclusters.yaml, and the cluster chart's values schema is the CRD's spec schema
// (`make crds` rewrites both through charts/sync-from-crd.mjs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('charts follow crds/', () => {
  it('charts/conflux-operator/crds/ holds exactly the files of crds/ (the YAML ones), byte for byte', () => {
    const yamlIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
    expect(yamlIn('charts/conflux-operator/crds')).toEqual(yamlIn('crds'));
    for (const f of yamlIn('crds')) {
      expect(readFileSync(join('charts/conflux-operator/crds', f), 'utf8'), `${f} differs: run "make crds"`).toBe(readFileSync(join('crds', f), 'utf8'));
    }
  });

  it('charts/conflux-cluster/values.schema.json is generated from the CRD (sync-from-crd.mjs --check)', () => {
    const r = spawnSync(process.execPath, ['charts/sync-from-crd.mjs', '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the values schema carries the CRD constraints and refuses unknown spec fields', () => {
    const schema = JSON.parse(readFileSync('charts/conflux-cluster/values.schema.json', 'utf8')) as {
      properties: { spec: { required: string[]; additionalProperties: boolean; properties: Record<string, { minimum?: number; maximum?: number; enum?: string[]; properties?: Record<string, unknown> }> } };
    };
    const spec = schema.properties.spec;
    expect(spec.required).toContain('image');
    expect(spec.additionalProperties).toBe(false);
    expect(spec.properties.replicas).toMatchObject({ minimum: 1, maximum: 9 });
    expect(spec.properties.logLevel?.enum).toEqual(['error', 'warn', 'info', 'debug']);
    expect(JSON.stringify(schema)).not.toMatch(/x-kubernetes-|"_enum"|"_default"/);
  });

  it('--check fails on a stale copy (so the checks above can fail)', () => {
    // Run the checker from a copy of the layout where the chart's CRD differs.
    const dir = mkdtempSync(join(tmpdir(), 'conflux-charts-sync-'));
    try {
      const r = spawnSync('bash', ['-c', `mkdir -p ${dir}/charts/conflux-operator/crds ${dir}/charts/conflux-cluster ${dir}/crds && cp charts/sync-from-crd.mjs ${dir}/charts/ && cp crds/confluxclusters.yaml ${dir}/crds/ && ln -s $PWD/node_modules ${dir}/node_modules && echo stale > ${dir}/charts/conflux-operator/crds/confluxclusters.yaml && cp charts/conflux-cluster/values.schema.json ${dir}/charts/conflux-cluster/ && node ${dir}/charts/sync-from-crd.mjs --check`], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('charts/conflux-operator/crds/confluxclusters.yaml is stale');
      expect(r.stderr).not.toContain('values.schema.json');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
