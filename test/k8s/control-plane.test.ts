// The real control plane (test/k8s/control-plane.ts) with Conflux's CRD: versions, the CRD's schema enforced by the
// API server (issue #7, scenario 7: bad specs are rejected with the schema's message) and the scale subresource.
// Needs the Go-built tools: `make test-deps` (see test/k8s/README.md).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlaneError, httpsGet, startControlPlane, type ControlPlane } from './control-plane.js';

const repo = resolve(import.meta.dirname, '../..');
const crdFile = resolve(repo, 'crds/confluxclusters.yaml');
const exampleFile = resolve(repo, 'operator/examples/confluxcluster.yaml');

let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane();
}, 240_000);

afterAll(async () => {
  if (!cp) return;
  await cp.stop();
  // stop() leaves no process and (unless asked to keep it) no folder behind.
  for (const pid of Object.values(cp.pids())) expect(pid).toBeUndefined();
  if (!process.env.KEEP_TEST_DIRS) expect(existsSync(cp.dir)).toBe(false);
}, 60_000);

async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A ConfluxCluster manifest with `spec` as given (JSON is YAML). */
function cluster(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'conflux.io/v1alpha1', kind: 'ConfluxCluster', metadata: { name, namespace: 'default' }, spec });
}

interface Validation { rule: string; message: string }
/** The x-kubernetes-validations messages of the CRD as the API server serves it, at a property path. */
let schema: Record<string, unknown>;
function validationsAt(path: string[]): Validation[] {
  let node: Record<string, unknown> = schema;
  for (const p of path) node = (node.properties as Record<string, Record<string, unknown>>)[p]!;
  return node['x-kubernetes-validations'] as Validation[];
}

describe('real Kubernetes control plane', () => {
  it('serves the version the tools were built as, on 127.0.0.1 only, with working RBAC for the admin token', async () => {
    expect(cp.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const v = JSON.parse(await kubectlOk(['version', '-o', 'json'])) as {
      clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string; major: string; minor: string };
    };
    expect(v.serverVersion.gitVersion).toBe(cp.tools.kubernetesVersion);
    expect(v.serverVersion.gitVersion).toMatch(/^v1\.34\.\d+$/);
    expect(v.serverVersion.minor).toBe('34');
    expect(v.clientVersion.gitVersion).toBe(cp.tools.kubernetesVersion);
    expect((await kubectlOk(['auth', 'can-i', '*', '*'])).trim()).toBe('yes');
    // The client-node KubeConfig talks to the same server over https with the CA.
    const res = await cp.get('/version');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).gitVersion).toBe(cp.tools.kubernetesVersion);
    expect(cp.kubeConfig().getCurrentCluster()?.server).toBe(cp.server);
    // An unknown token is refused: the API server really authenticates.
    expect((await httpsGet(`${cp.server}/api`, { ca: cp.caPem, token: 'not-a-token' })).status).toBe(401);
  });

  it('installs the ConfluxCluster CRD and accepts the example with --dry-run=server', async () => {
    await kubectlOk(['apply', '-f', crdFile]);
    await kubectlOk(['wait', '--for=condition=Established', 'crd/confluxclusters.conflux.io', '--timeout=60s']);
    const crd = JSON.parse(await kubectlOk(['get', 'crd', 'confluxclusters.conflux.io', '-o', 'json']));
    schema = crd.spec.versions[0].schema.openAPIV3Schema;
    const out = await kubectlOk(['apply', '--dry-run=server', '-f', exampleFile]);
    expect(out).toContain('confluxcluster.conflux.io/demo created (server dry run)');
    // Dry run: nothing stored.
    const get = await cp.kubectl(['get', 'confluxcluster', 'demo']);
    expect(get.code).not.toBe(0);
    expect(get.stderr).toContain('NotFound');
  });

  describe('scenario 7: bad specs are rejected by the API server with the schema message', () => {
    const reject = async (name: string, spec: Record<string, unknown>): Promise<string> => {
      const r = await cp.kubectl(['apply', '-f', '-'], cluster(name, spec));
      expect(r.code, `apply of ${name} should fail; stdout: ${r.stdout}`).not.toBe(0);
      expect(r.stderr).toContain('is invalid');
      return r.stderr;
    };

    it('replicas 0 (minimum 1) and 10 (maximum 9)', async () => {
      expect(await reject('zero', { replicas: 0, image: 'conflux:0.1.0' }))
        .toContain('spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1');
      expect(await reject('ten', { replicas: 10, image: 'conflux:0.1.0' }))
        .toContain('spec.replicas: Invalid value: 10: spec.replicas in body should be less than or equal to 9');
    });

    it('missing image and empty image', async () => {
      expect(await reject('noimage', { replicas: 3 })).toContain('spec.image: Required value');
      expect(await reject('emptyimage', { replicas: 3, image: '' }))
        .toContain('spec.image: Invalid value: "": spec.image in body should be at least 1 chars long');
    });

    it('an imagePullPolicy outside the enum', async () => {
      expect(await reject('pull', { image: 'conflux:0.1.0', imagePullPolicy: 'Sometimes' }))
        .toContain('spec.imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"');
    });

    it('CEL rules: election ticks and the name', async () => {
      const [ticks] = validationsAt(['spec', 'raft']);
      expect(ticks?.message).toBeTruthy();
      expect(await reject('ticks', { image: 'conflux:0.1.0', raft: { electionTicksMin: 30 } })).toContain(ticks!.message);
      const nameRule = (schema['x-kubernetes-validations'] as Validation[])[0]!;
      expect(await reject('a'.repeat(48), { image: 'conflux:0.1.0' })).toContain(nameRule.message);
    });

    it('storage.size is immutable (transition rule, checked on update)', async () => {
      await kubectlOk(['apply', '-f', '-'], cluster('immutable', { image: 'conflux:0.1.0', storage: { size: '1Gi' } }));
      const [rule] = validationsAt(['spec', 'storage', 'size']);
      const r = await cp.kubectl(['patch', 'confluxcluster', 'immutable', '--type=merge', '-p', '{"spec":{"storage":{"size":"2Gi"}}}']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(rule!.message);
      await kubectlOk(['delete', 'confluxcluster', 'immutable', '--wait=false']);
    });
  });

  it('kubectl scale changes spec.replicas through the scale subresource', async () => {
    await kubectlOk(['apply', '-f', '-'], cluster('scaled', { replicas: 3, image: 'conflux:0.1.0' }));
    expect(await kubectlOk(['scale', 'confluxcluster/scaled', '--replicas=5'])).toContain('scaled');
    const scale = JSON.parse(await kubectlOk(['get', '--raw', '/apis/conflux.io/v1alpha1/namespaces/default/confluxclusters/scaled/scale']));
    expect(scale.kind).toBe('Scale');
    expect(scale.spec.replicas).toBe(5);
    const obj = JSON.parse(await kubectlOk(['get', 'confluxcluster', 'scaled', '-o', 'json']));
    expect(obj.spec.replicas).toBe(5);
    // The schema's bounds hold through the subresource too.
    const over = await cp.kubectl(['scale', 'confluxcluster/scaled', '--replicas=10']);
    expect(over.code).not.toBe(0);
    expect(over.stderr).toContain('should be less than or equal to 9');
  });
});

describe('a control plane that cannot start', () => {
  it('throws with the failing component and the tail of its log, and leaves no process or folder', async () => {
    const err = await startControlPlane({ extraArgs: { 'kube-apiserver': ['--no-such-flag=1'] } }).then(
      () => { throw new Error('startControlPlane should have failed'); },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ControlPlaneError);
    const e = err as ControlPlaneError;
    expect(e.code).toBe('exited');
    expect(e.message).toContain('kube-apiserver exited');
    expect(e.message).toContain('unknown flag: --no-such-flag');
    // etcd had started: it was stopped too (no process mentions the folder any more).
    const mentioning = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(e.dir);
      } catch {
        return false;
      }
    });
    expect(mentioning).toEqual([]);
    if (!process.env.KEEP_TEST_DIRS) expect(existsSync(e.dir)).toBe(false);
  }, 60_000);
});
