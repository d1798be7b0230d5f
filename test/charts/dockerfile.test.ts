// The Dockerfile cannot be built here (no Docker engine), so what the charts and the operator rely
// on is checked statically: the image targets the charts name, the commands the pods run, the
// files those commands point at (dist/ is built before the tests), and the user the charts'
// securityContext sets.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { buildStatefulSet } from '../../operator/src/specs/statefulset.js';
import { restoreWrapperCommand } from '../../operator/src/specs/restore.js';
import { makeCluster } from '../operator/fixtures.js';
import { CLUSTER_CHART, OPERATOR_CHART, REPO } from './helm.js';

interface Stage {
  name: string;
  from: string;
  lines: string[];
}

function stages(dockerfile: string): Stage[] {
  const out: Stage[] = [];
  // Continuation lines are joined first, as Docker does.
  for (const line of dockerfile.replace(/\\\n/g, ' ').split('\n')) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ name: from[2] ?? '', from: from[1]!, lines: [] });
    else if (line.trim() !== '' && !line.startsWith('#')) out.at(-1)?.lines.push(line.trim());
  }
  return out;
}

const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
const all = stages(dockerfile);
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> };

/** Every instruction a stage inherits, base stages first. */
function chain(name: string): string[] {
  const stage = all.find((s) => s.name === name);
  if (stage === undefined) throw new Error(`no stage ${name}`);
  const base = all.find((s) => s.name === stage.from);
  return [...(base ? chain(base.name) : []), ...stage.lines];
}

/** The commands a stage puts on PATH: `ln -s TARGET /usr/local/bin/NAME`. */
function linkedCommands(name: string): Map<string, string> {
  const links = new Map<string, string>();
  for (const line of chain(name)) {
    for (const m of line.matchAll(/ln -s (\S+) \/usr\/local\/bin\/(\S+)/g)) links.set(m[2]!, m[1]!);
  }
  return links;
}

function entrypoint(name: string): string[] {
  const line = chain(name).filter((l) => l.startsWith('ENTRYPOINT')).at(-1);
  if (line === undefined) throw new Error(`stage ${name} has no ENTRYPOINT`);
  return JSON.parse(line.slice('ENTRYPOINT'.length).trim()) as string[];
}

describe('Dockerfile', () => {
  it('has the two targets the charts name as image repositories', () => {
    const operatorValues = loadYaml<{ image: { repository: string } }>(readFileSync(join(OPERATOR_CHART, 'values.yaml'), 'utf8'));
    const clusterValues = loadYaml<{ spec: { image: string } }>(readFileSync(join(CLUSTER_CHART, 'values.yaml'), 'utf8'));
    const targets = all.map((s) => s.name);
    expect(targets).toContain(operatorValues.image.repository);
    expect(targets).toContain(clusterValues.spec.image.split(':')[0]);
  });

  it('puts every package command on PATH, pointing at the file package.json names, which the build produces', () => {
    for (const target of ['conflux', 'conflux-operator']) {
      const links = linkedCommands(target);
      for (const [command, file] of Object.entries(pkg.bin)) {
        expect(links.get(command), `${target}: ${command}`).toBe(`/opt/conflux/${file}`);
        expect(existsSync(join(REPO, file)), file).toBe(true);
        expect(readFileSync(join(REPO, file), 'utf8').startsWith('#!/usr/bin/env node'), file).toBe(true);
      }
    }
  });

  it('starts the operator with the operator command and the node image with conflux-node', () => {
    expect(entrypoint('conflux-operator')).toEqual(['conflux-operator']);
    expect(entrypoint('conflux')).toEqual(['conflux-node']);
  });

  it('runs the commands the StatefulSet and the restore wrapper give, from a Debian base with sh', () => {
    const sts = buildStatefulSet(makeCluster(), 3);
    const command = sts.spec!.template.spec!.containers[0]!.command!;
    expect(linkedCommands('conflux').has(command[0]!)).toBe(true);
    const wrapper = restoreWrapperCommand();
    expect(wrapper[0]).toBe('sh');
    expect(all.find((s) => s.name === 'runtime')!.from).toMatch(/^node:20-bookworm/);
  });

  it('runs as the user the operator chart sets', () => {
    const values = loadYaml<{ podSecurityContext: { runAsUser: number; runAsGroup: number } }>(readFileSync(join(OPERATOR_CHART, 'values.yaml'), 'utf8'));
    for (const target of ['conflux', 'conflux-operator']) {
      const user = chain(target).filter((l) => l.startsWith('USER')).at(-1);
      expect(user, target).toBe(`USER ${values.podSecurityContext.runAsUser}:${values.podSecurityContext.runAsGroup}`);
    }
  });

  it('keeps build output and local data out of the build context', () => {
    const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', 'dist', '.local-cluster', '.git']) expect(ignored).toContain(entry);
  });
});
