// The example manifest is documentation that must stay valid: it is checked against the CRD's
// schema (a small structural validator: known fields, types, enums, bounds, patterns, required)
// and against the operator's own validation; the RBAC example covers every call the operator makes.
import { readFileSync } from 'node:fs';
import { loadAllYaml, loadYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { buildCrd, type JSONSchemaProps } from '../../operator/src/api/crd.js';
import { resolveSpec, validateSpec, type ConfluxCluster } from '../../operator/src/api/types.js';
import { LEASE_CALLS, OPERATOR_API_CALLS } from './api-calls.js';

/** Problems of `value` against a structural schema (what the API server would prune or reject). */
function check(schema: JSONSchemaProps, value: unknown, path = ''): string[] {
  const out: string[] = [];
  if (schema['x-kubernetes-int-or-string']) {
    if (typeof value !== 'string' && !Number.isInteger(value)) out.push(`${path}: not an int or string`);
  } else if (schema.type === 'object') {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: not an object`];
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) out.push(`${path}.${r}: required`);
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties?.[k] ?? schema.additionalProperties;
      if (sub !== undefined) out.push(...check(sub, v, `${path}.${k}`));
      else if (!schema['x-kubernetes-preserve-unknown-fields']) out.push(`${path}.${k}: unknown field`);
    }
    return out;
  } else if (schema.type === 'array') {
    if (!Array.isArray(value)) return [`${path}: not an array`];
    value.forEach((v, i) => schema.items && out.push(...check(schema.items, v, `${path}[${i}]`)));
    return out;
  } else if (schema.type === 'integer' && !Number.isInteger(value)) out.push(`${path}: not an integer`);
  else if (schema.type === 'string' && typeof value !== 'string') out.push(`${path}: not a string`);
  else if (schema.type === 'boolean' && typeof value !== 'boolean') out.push(`${path}: not a boolean`);
  if (schema.enum && !schema.enum.includes(value as string)) out.push(`${path}: ${String(value)} not in ${schema.enum.join(',')}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) out.push(`${path}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) out.push(`${path}: above ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) out.push(`${path}: shorter than ${schema.minLength}`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) out.push(`${path}: does not match ${schema.pattern}`);
  }
  return out;
}

const schema = buildCrd().spec.versions[0]!.schema.openAPIV3Schema;
const load = (file: string) => loadYaml<ConfluxCluster>(readFileSync(file, 'utf8'));

describe('operator/examples/confluxcluster*.yaml', () => {
  for (const file of ['operator/examples/confluxcluster.yaml', 'operator/examples/confluxcluster-backup.yaml', 'operator/examples/confluxcluster-restore.yaml']) {
    it(`${file} is valid against the CRD schema`, () => {
      const raw = JSON.parse(JSON.stringify(load(file))) as Record<string, unknown>;
      expect(raw).toMatchObject({ apiVersion: 'conflux.io/v1alpha1', kind: 'ConfluxCluster' });
      expect(check(schema.properties!.spec!, raw.spec, 'spec')).toEqual([]);
      expect(validateSpec(resolveSpec(load(file).spec))).toEqual([]);
    });
  }

  it('the backup and restore examples use what they document', () => {
    expect(load('operator/examples/confluxcluster-backup.yaml').spec.backup).toMatchObject({ schedule: '0 3 * * *', retain: 7 });
    expect(load('operator/examples/confluxcluster-restore.yaml').spec.restore).toMatchObject({ volumeClaimName: 'demo-backups' });
  });

  it('the validator catches what the API server would refuse (so the check above can fail)', () => {
    const spec = schema.properties!.spec!;
    expect(check(spec, { replicas: 0 }, 'spec')).toEqual(['spec.image: required', 'spec.replicas: below 1']);
    expect(check(spec, { image: 'x', replica: 3, logLevel: 'loud', storage: { size: '1 GB' } }, 'spec')).toEqual([
      'spec.replica: unknown field',
      'spec.logLevel: loud not in error,warn,info,debug',
      'spec.storage.size: does not match ^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$',
    ]);
    expect(check(spec, { image: 'x', resources: { requests: { cpu: 0.5 } }, raft: { leaseReads: 'yes' }, podTemplate: { spec: { tolerations: {} } } }, 'spec')).toEqual([
      'spec.resources.requests.cpu: not an int or string',
      'spec.raft.leaseReads: not a boolean',
      'spec.podTemplate.spec.tolerations: not an array',
    ]);
    expect(check(spec, { image: 'x', backup: { schedule: 'daily', retain: 0 }, restore: { file: 'a/b' } }, 'spec').map((p) => p.split(':')[0])).toEqual([
      'spec.backup.schedule',
      'spec.backup.retain',
      'spec.restore.volumeClaimName',
      'spec.restore.file',
    ]);
  });
});

describe('operator/examples/rbac.yaml', () => {
  it('grants what the operator calls', () => {
    const docs = loadAllYaml(readFileSync('operator/examples/rbac.yaml', 'utf8')) as { kind: string; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }[];
    const role = docs.find((d) => d.kind === 'ClusterRole')!;
    const can = (group: string, resource: string, verb: string) =>
      role.rules!.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    const needed = [...OPERATOR_API_CALLS, LEASE_CALLS];
    for (const [g, r, verbs] of needed) for (const v of verbs) expect(can(g, r, v), `${v} ${g}/${r}`).toBe(true);
  });
});
