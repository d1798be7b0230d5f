#!/usr/bin/env node
// Keeps the charts in step with the generated CRD (crds/confluxclusters.yaml, `make crds`):
//  - charts/conflux-operator/crds/confluxclusters.yaml is a byte-for-byte copy (Helm installs a
//    chart's crds/ folder on first install);
//  - charts/conflux-cluster/values.schema.json validates `.spec` with the CRD's own spec schema,
//    converted from Kubernetes' structural OpenAPI to JSON Schema (unknown fields refused, so a
//    typo in values fails at `helm install`, not silently pruned by the API server).
// `node charts/sync-from-crd.mjs` writes both; `--check` exits 1 when either is stale (test/charts).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The committed CRD is the source (not the build, which may hold work in progress). Parsed with
// js-yaml as @kubernetes/client-node resolves it: client-node's loadYaml would rename schema keys
// (enum -> _enum) for its typed models.
const requireFromClientNode = createRequire(createRequire(import.meta.url).resolve('@kubernetes/client-node'));
const yaml = requireFromClientNode('js-yaml');
const crdPath = join(root, 'crds/confluxclusters.yaml');
const chartCrdPath = join(root, 'charts/conflux-operator/crds/confluxclusters.yaml');
const schemaPath = join(root, 'charts/conflux-cluster/values.schema.json');

/** Structural OpenAPI v3 (as in a CRD) -> JSON Schema draft 2020-12. */
export function toJsonSchema(s) {
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-kubernetes-')) continue; // CEL rules and markers: the API server checks those
    if (k === 'properties') out.properties = Object.fromEntries(Object.entries(v).map(([p, sub]) => [p, toJsonSchema(sub)]));
    else if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object')) out[k] = toJsonSchema(v);
    else if (k === 'anyOf' || k === 'allOf' || k === 'oneOf') out[k] = v.map(toJsonSchema);
    else out[k] = v;
  }
  if (s['x-kubernetes-int-or-string']) {
    // anyOf [integer, string]; the quantity pattern applies to the string form only.
    delete out.type;
  }
  if (s.type === 'object' && s.properties !== undefined && s.additionalProperties === undefined && !s['x-kubernetes-preserve-unknown-fields']) {
    out.additionalProperties = false;
  }
  return out;
}

export function valuesSchema(crd) {
  const spec = crd.spec.versions.find((v) => v.storage).schema.openAPIV3Schema.properties.spec;
  const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'conflux-cluster chart values (spec: generated from crds/confluxclusters.yaml by charts/sync-from-crd.mjs)',
    type: 'object',
    additionalProperties: false,
    required: ['spec'],
    properties: {
      global: { type: 'object' },
      name: {
        description: 'Name of the ConfluxCluster (default: the release name).',
        type: 'string',
        maxLength: 52,
        pattern: '^([a-z]([-a-z0-9]*[a-z0-9])?)?$',
      },
      labels: stringMap,
      annotations: stringMap,
      spec: toJsonSchema(spec),
    },
  };
}

const crdText = readFileSync(crdPath, 'utf8');
const schemaText = `${JSON.stringify(valuesSchema(yaml.load(crdText)), null, 2)}\n`;
const targets = [
  [chartCrdPath, crdText],
  [schemaPath, schemaText],
];
if (process.argv.includes('--check')) {
  const stale = targets.filter(([path, text]) => {
    try {
      return readFileSync(path, 'utf8') !== text;
    } catch {
      return true;
    }
  });
  for (const [path] of stale) console.error(`${path.slice(root.length + 1)} is stale: run "make crds" (or node charts/sync-from-crd.mjs)`);
  process.exit(stale.length === 0 ? 0 : 1);
} else {
  for (const [path, text] of targets) writeFileSync(path, text);
}
