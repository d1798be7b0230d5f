// The CRD is generated from operator/src/api (one source of truth); the committed YAML must be
// what the generator writes today, and the YAML writer must round-trip through a real parser.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import { buildCrd, type JSONSchemaProps } from '../../operator/src/api/crd.js';
import {
  RAFT_INT_TUNABLES,
  REPLICAS,
  resolveSpec,
  validateSpec,
  type ConfluxClusterSpec,
} from '../../operator/src/api/types.js';
import { main as writeCrdMain, renderCrd } from '../../operator/src/api/write-crd.js';
import { toYaml } from '../../operator/src/api/yaml.js';

const schema = () => buildCrd().spec.versions[0]!.schema.openAPIV3Schema;
const specProps = () => schema().properties!.spec!.properties!;

describe('crds/confluxclusters.yaml', () => {
  it('is what `make crds` generates from operator/src/api (run `make crds` after changing the types)', () => {
    const committed = readFileSync('crds/confluxclusters.yaml', 'utf8');
    expect(committed, 'crds/confluxclusters.yaml is stale: run `make crds`').toBe(renderCrd());
  });

  it('reads back (through client-node, i.e. js-yaml) as the same object as the JSON form', () => {
    const fromYaml = loadYaml(renderCrd());
    const fromJson = loadYaml(JSON.stringify(buildCrd()));
    expect(fromYaml).toEqual(fromJson);
    expect((fromYaml as { spec: { group: string } }).spec.group).toBe('conflux.io');
  });
});

describe('the CRD', () => {
  it('is conflux.io/v1alpha1, namespaced, with status and scale subresources', () => {
    const crd = buildCrd();
    expect(crd.metadata.name).toBe('confluxclusters.conflux.io');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toMatchObject({ kind: 'ConfluxCluster', plural: 'confluxclusters', singular: 'confluxcluster' });
    const v = crd.spec.versions[0]!;
    expect(v).toMatchObject({ name: 'v1alpha1', served: true, storage: true });
    expect(v.subresources).toEqual({
      status: {},
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
    });
  });

  it('has printer columns for replicas, ready, leader and age', () => {
    const cols = buildCrd().spec.versions[0]!.additionalPrinterColumns;
    expect(cols.map((c) => [c.name, c.jsonPath])).toEqual(
      expect.arrayContaining([
        ['Replicas', '.spec.replicas'],
        ['Ready', '.status.readyReplicas'],
        ['Leader', '.status.leader'],
        ['Age', '.metadata.creationTimestamp'],
      ]),
    );
  });

  it('requires spec.image and keeps replicas within bounds with a default', () => {
    expect(schema().required).toEqual(['spec']);
    expect(schema().properties!.spec!.required).toEqual(['image']);
    expect(specProps().image).toMatchObject({ type: 'string', minLength: 1 });
    expect(specProps().replicas).toMatchObject({ type: 'integer', minimum: 1, maximum: REPLICAS.maximum, default: 3 });
  });

  it('defaults storage and the volume policy, and makes storage immutable', () => {
    const storage = specProps().storage!;
    expect(storage.default).toEqual({});
    expect(storage.properties!.size).toMatchObject({ default: '1Gi' });
    expect(storage.properties!.size!['x-kubernetes-validations']).toEqual([{ rule: 'self == oldSelf', message: 'storage.size is immutable' }]);
    expect(storage.properties!.retention!.properties).toMatchObject({ whenScaled: { default: 'Delete' }, whenDeleted: { default: 'Retain' } });
  });

  it('has a schema for every Raft tunable and a rule on the election timeouts', () => {
    const raft = specProps().raft!;
    expect(Object.keys(raft.properties!).sort()).toEqual([...Object.keys(RAFT_INT_TUNABLES), 'leaseReads'].sort());
    expect(raft['x-kubernetes-validations']![0]!.rule).toContain('self.electionTicksMax');
  });

  it('lists exactly the spec fields of the TypeScript type', () => {
    // The compiler checks this (SchemaOf<ConfluxClusterSpec>); this states it for a reader.
    const fields: (keyof ConfluxClusterSpec)[] = [
      'replicas', 'image', 'imagePullPolicy', 'storage', 'resources', 'auth', 'raft', 'logLevel', 'maxValueBytes', 'quotaBytes', 'history', 'podTemplate', 'backup', 'restore',
    ];
    expect(Object.keys(specProps()).sort()).toEqual(fields.sort());
  });

  it('keeps conditions as a map keyed by type, and validates the name', () => {
    const status = schema().properties!.status!.properties!;
    expect(status.conditions).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
    const rule = schema()['x-kubernetes-validations']![0]!;
    expect(rule.rule).toContain('size(self.metadata.name) <= 47');
  });

  it('uses only structural-schema features: every node has a type or is int-or-string', () => {
    const problems: string[] = [];
    const walk = (s: JSONSchemaProps, path: string) => {
      if (s.type === undefined && s['x-kubernetes-int-or-string'] !== true) problems.push(path);
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
      if (s.items) walk(s.items, `${path}[]`);
      if (s.additionalProperties) walk(s.additionalProperties, `${path}{}`);
    };
    walk(schema(), '');
    expect(problems).toEqual([]);
  });
});

describe('resolveSpec and validateSpec', () => {
  it('fills the schema defaults', () => {
    const s = resolveSpec({ image: 'conflux:1' });
    expect(s).toMatchObject({ replicas: 3, storage: { size: '1Gi', retention: { whenScaled: 'Delete', whenDeleted: 'Retain' } }, logLevel: 'info' });
    expect(validateSpec(s)).toEqual([]);
  });

  it('reports what the schema would reject', () => {
    expect(validateSpec(resolveSpec({ replicas: 0, image: '' }))).toEqual([
      'spec.replicas must be an integer from 1 to 9',
      'spec.image is required',
    ]);
    expect(validateSpec(resolveSpec({ image: 'x', storage: { size: 'lots' }, raft: { electionTicksMin: 30 }, maxValueBytes: 0 }))).toEqual([
      'spec.maxValueBytes must be from 1 to 67108864',
      'spec.storage.size "lots" is not a quantity',
      'spec.raft.electionTicksMax must be above spec.raft.electionTicksMin',
    ]);
    expect(validateSpec(resolveSpec({ image: 'x', history: { retainRevisions: 0, retainMs: 1.5, retainBytes: 100 } }))).toEqual([
      'spec.history.retainRevisions must be an integer from 1 to 1000000000',
      'spec.history.retainMs must be an integer from 1 to 31536000000',
      'spec.history.retainBytes must be an integer from 1024 to 1099511627776',
    ]);
    expect(validateSpec(resolveSpec({ image: 'x', history: { retainBytes: 1024 } }))).toEqual([]);
    expect(validateSpec(resolveSpec({ image: 'x', quotaBytes: 1000 }))).toEqual(['spec.quotaBytes must be an integer from 1048576 to 1099511627776']);
  });
});

describe('toYaml', () => {
  const roundTrip = (data: unknown) => (loadYaml(toYaml({ apiVersion: 'test/v1', kind: 'RoundTrip', data })) as { data: unknown }).data;

  it('keeps strings that look like other things as strings', () => {
    const data = {
      words: ['true', 'no', 'on', 'null', '~', 'yes', 'Off'],
      numbers: ['1', '1.5', '1Gi', '0x10', '-3', '.5', '+1', '1e3'],
      punctuation: ['a: b', 'a #b', '#x', '- x', '[x]', '{x}', '*x', '&x', '!x', '%x', '@x', '`x', '"x"', "'x'", '|', '>', '?', ':x', 'x:'],
      spaces: [' lead', 'trail ', '', 'two words', 'tab\there', 'line\nbreak'],
      unicode: ['Überprüfung', 'snow ☃'],
      regexes: ['^[a-z]([-a-z0-9]*[a-z0-9])?$', '^(\\+|-)?[0-9]+$'],
    };
    expect(roundTrip(data)).toEqual(data);
  });

  it('writes nested objects, arrays of objects, empty containers and scalars', () => {
    const data = {
      a: { b: { c: 1 } },
      list: [{ x: 1, y: [1, 2] }, [3, [4]], 'plain', null, true, {}],
      empty: { o: {}, l: [] },
      n: -2.5,
      keys: { 'a b': 1, 'x-kubernetes-list-type': 'map', '1': 'one', 'true': 'yes' },
    };
    expect(roundTrip(data)).toEqual(data);
  });

  it('drops undefined like JSON and writes top-level scalars', () => {
    expect(toYaml({ a: undefined, b: 1 })).toBe('b: 1\n');
    expect(toYaml('x')).toBe('x\n');
    expect(toYaml([])).toBe('[]\n');
    expect(() => toYaml({ n: Number.NaN })).not.toThrow(); // JSON turns NaN into null
  });
});

describe('write-crd', () => {
  it('writes the file and checks it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conflux-crd-'));
    const file = join(dir, 'crd.yaml');
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(writeCrdMain(['--check', file])).toBe(1);
      expect(writeCrdMain([file])).toBe(0);
      expect(readFileSync(file, 'utf8')).toBe(renderCrd());
      expect(writeCrdMain(['--check', file])).toBe(0);
      writeFileSync(file, 'changed');
      expect(writeCrdMain(['--check', file])).toBe(1);
      expect(err).toHaveBeenCalledWith(`${file} is out of date: run make crds`);
    } finally {
      log.mockRestore();
      err.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
