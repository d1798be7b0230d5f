// The client-node adapter against a local HTTP server playing the API server: paths, verbs,
// patch content types, bodies (MicroTime), and errors mapped to KubeError.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, V1MicroTime } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClientNodeKube, toKubeError } from '../../operator/src/kube-client.js';
import { KubeError } from '../../operator/src/kube.js';

interface Seen {
  method: string;
  url: string;
  contentType?: string;
  authorization?: string;
  body: unknown;
}

let server: http.Server;
let kube: ClientNodeKube;
const seen: Seen[] = [];
let reply: (req: Seen) => { status: number; body: unknown } = () => ({ status: 200, body: {} });

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const s: Seen = { method: req.method!, url: req.url!, contentType: req.headers['content-type'], authorization: req.headers.authorization, body: raw ? JSON.parse(raw) : undefined };
      seen.push(s);
      const r = reply(s);
      res.writeHead(r.status, { 'Content-Type': 'application/json' }).end(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'sesame' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  kube = new ClientNodeKube(kc);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen.length = 0;
  reply = () => ({ status: 200, body: {} });
});

const notFound = { status: 404, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'secrets "x" not found', reason: 'NotFound', code: 404 } };

describe('ClientNodeKube', () => {
  it('reads objects by kind, with the token; 404 is null', async () => {
    reply = () => ({ status: 200, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'ns' } } });
    expect(await kube.get('Secret', 'ns', 'x')).toMatchObject({ metadata: { name: 'x' } });
    await kube.get('Service', 'ns', 'x');
    await kube.get('StatefulSet', 'ns', 'x');
    await kube.get('PodDisruptionBudget', 'ns', 'x');
    await kube.get('Pod', 'ns', 'x');
    await kube.get('ConfluxCluster', 'ns', 'x');
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /api/v1/namespaces/ns/secrets/x',
      'GET /api/v1/namespaces/ns/services/x',
      'GET /apis/apps/v1/namespaces/ns/statefulsets/x',
      'GET /apis/policy/v1/namespaces/ns/poddisruptionbudgets/x',
      'GET /api/v1/namespaces/ns/pods/x',
      'GET /apis/conflux.io/v1alpha1/namespaces/ns/confluxclusters/x',
    ]);
    expect(seen[0]!.authorization).toBe('Bearer sesame');
    reply = () => notFound;
    expect(await kube.get('Secret', 'ns', 'x')).toBeNull();
  });

  it('maps other failures to KubeError with the code, message and reason', async () => {
    reply = () => ({ status: 409, body: { kind: 'Status', message: 'services "demo" already exists', reason: 'AlreadyExists', code: 409 } });
    const err = await kube.create('Service', { metadata: { name: 'demo', namespace: 'ns' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({ code: 409, message: 'services "demo" already exists', reason: 'AlreadyExists' });
    reply = () => ({ status: 500, body: 'oops' });
    await expect(kube.get('Pod', 'ns', 'x')).rejects.toMatchObject({ code: 500 });
    expect(toKubeError(new Error('plain'))).toEqual(new Error('plain'));
  });

  it('lists pods and clusters with a label selector', async () => {
    reply = () => ({ status: 200, body: { apiVersion: 'v1', kind: 'PodList', metadata: {}, items: [{ metadata: { name: 'demo-0' } }] } });
    expect((await kube.list('Pod', 'ns', 'a=b,c=d')).map((p) => p.metadata!.name)).toEqual(['demo-0']);
    await kube.list('Pod', undefined);
    reply = () => ({ status: 200, body: { items: [{ metadata: { name: 'demo' } }] } });
    expect(await kube.list('ConfluxCluster', undefined)).toEqual([{ metadata: { name: 'demo' } }]);
    await kube.list('ConfluxCluster', 'ns', 'x=y');
    expect(seen.map((s) => `${s.method} ${decodeURIComponent(s.url)}`)).toEqual([
      'GET /api/v1/namespaces/ns/pods?labelSelector=a=b,c=d',
      'GET /api/v1/pods',
      'GET /apis/conflux.io/v1alpha1/confluxclusters',
      'GET /apis/conflux.io/v1alpha1/namespaces/ns/confluxclusters?labelSelector=x=y',
    ]);
  });

  it('sends merge patches and JSON patches with their content types', async () => {
    await kube.patch('Service', 'ns', 'demo', { type: 'merge', body: { spec: { ports: [] } } });
    await kube.patch('StatefulSet', 'ns', 'demo', { type: 'json', ops: [{ op: 'replace', path: '/spec/replicas', value: 5 }] });
    await kube.patch('Secret', 'ns', 's', { type: 'merge', body: { data: { a: 'Yg==' } } });
    await kube.patch('PodDisruptionBudget', 'ns', 'p', { type: 'merge', body: {} });
    await kube.patch('Pod', 'ns', 'p', { type: 'merge', body: {} });
    await kube.patch('ConfluxCluster', 'ns', 'demo', { type: 'merge', body: {} });
    await kube.patch('Lease', 'ns', 'l', { type: 'merge', body: {} });
    expect(seen.map((s) => [s.method, s.url, s.contentType])).toEqual([
      ['PATCH', '/api/v1/namespaces/ns/services/demo', 'application/merge-patch+json'],
      ['PATCH', '/apis/apps/v1/namespaces/ns/statefulsets/demo', 'application/json-patch+json'],
      ['PATCH', '/api/v1/namespaces/ns/secrets/s', 'application/merge-patch+json'],
      ['PATCH', '/apis/policy/v1/namespaces/ns/poddisruptionbudgets/p', 'application/merge-patch+json'],
      ['PATCH', '/api/v1/namespaces/ns/pods/p', 'application/merge-patch+json'],
      ['PATCH', '/apis/conflux.io/v1alpha1/namespaces/ns/confluxclusters/demo', 'application/merge-patch+json'],
      ['PATCH', '/apis/coordination.k8s.io/v1/namespaces/ns/leases/l', 'application/merge-patch+json'],
    ]);
    expect(seen[0]!.body).toEqual({ spec: { ports: [] } });
    expect(seen[1]!.body).toEqual([{ op: 'replace', path: '/spec/replicas', value: 5 }]);
  });

  it('patches the status subresource with a merge patch (null deletes)', async () => {
    await kube.patchStatus('ns', 'demo', { phase: 'Running', leader: null });
    expect(seen[0]).toMatchObject({
      method: 'PATCH',
      url: '/apis/conflux.io/v1alpha1/namespaces/ns/confluxclusters/demo/status',
      contentType: 'application/merge-patch+json',
      body: { status: { phase: 'Running', leader: null } },
    });
  });

  it('creates every kind in its namespace, and Events', async () => {
    await kube.create('Secret', { metadata: { name: 's', namespace: 'ns' } });
    await kube.create('StatefulSet', { metadata: { name: 's', namespace: 'ns' } });
    await kube.create('PodDisruptionBudget', { metadata: { name: 's', namespace: 'ns' } });
    await kube.create('Pod', { metadata: { name: 's' } });
    await kube.create('ConfluxCluster', { apiVersion: 'conflux.io/v1alpha1', kind: 'ConfluxCluster', metadata: { name: 'c', namespace: 'ns' }, spec: { replicas: 1, image: 'i', storage: { size: '1Gi' } } });
    await kube.createEvent({ metadata: { name: 'e', namespace: 'ns' }, involvedObject: { name: 'demo' }, reason: 'R', firstTimestamp: new Date(Date.UTC(2025, 0, 1)) });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /api/v1/namespaces/ns/secrets',
      'POST /apis/apps/v1/namespaces/ns/statefulsets',
      'POST /apis/policy/v1/namespaces/ns/poddisruptionbudgets',
      'POST /api/v1/namespaces/default/pods',
      'POST /apis/conflux.io/v1alpha1/namespaces/ns/confluxclusters',
      'POST /api/v1/namespaces/ns/events',
    ]);
    expect(seen[5]!.body).toMatchObject({ reason: 'R', firstTimestamp: '2025-01-01T00:00:00.000Z' });
  });

  it('deletes with a uid precondition; a missing object is false', async () => {
    expect(await kube.delete('Pod', 'ns', 'demo-1', { uid: 'u-1' })).toBe(true);
    await kube.delete('Secret', 'ns', 's');
    await kube.delete('Service', 'ns', 's');
    await kube.delete('StatefulSet', 'ns', 's');
    await kube.delete('PodDisruptionBudget', 'ns', 's');
    await kube.delete('Lease', 'ns', 's');
    await kube.delete('ConfluxCluster', 'ns', 's');
    expect(seen[0]).toMatchObject({ method: 'DELETE', url: '/api/v1/namespaces/ns/pods/demo-1', body: { preconditions: { uid: 'u-1' } } });
    expect(seen.map((s) => s.url)).toContain('/apis/coordination.k8s.io/v1/namespaces/ns/leases/s');
    reply = () => notFound;
    expect(await kube.delete('Pod', 'ns', 'gone')).toBe(false);
    reply = () => ({ status: 409, body: { message: 'Precondition failed', reason: 'Conflict' } });
    await expect(kube.delete('Pod', 'ns', 'x', { uid: 'old' })).rejects.toMatchObject({ code: 409 });
  });

  it('writes Lease times with microseconds and reads them back as dates', async () => {
    const renew = new Date(Date.UTC(2025, 0, 1, 12, 0, 0, 123));
    reply = (s) => ({
      status: 200,
      body: { ...(s.body as object), metadata: { name: 'op', namespace: 'ns', resourceVersion: '8' }, spec: { ...(s.body as { spec?: object })?.spec, renewTime: '2025-01-01T12:00:00.123000Z' } },
    });
    const lease = { metadata: { name: 'op', namespace: 'ns', resourceVersion: '7' }, spec: { holderIdentity: 'me', leaseDurationSeconds: 15, renewTime: renew, acquireTime: renew } };
    const back = await kube.replace('Lease', lease);
    expect(seen[0]).toMatchObject({ method: 'PUT', url: '/apis/coordination.k8s.io/v1/namespaces/ns/leases/op' });
    expect((seen[0]!.body as { spec: { renewTime: string; acquireTime: string } }).spec).toMatchObject({
      renewTime: '2025-01-01T12:00:00.123000Z',
      acquireTime: '2025-01-01T12:00:00.123000Z',
      holderIdentity: 'me',
    });
    expect(back.spec!.renewTime).toBeInstanceOf(V1MicroTime);
    expect(new Date(back.spec!.renewTime!).getTime()).toBe(renew.getTime());
    await kube.create('Lease', lease);
    expect((seen[1]!.body as { spec: { renewTime: string } }).spec.renewTime).toBe('2025-01-01T12:00:00.123000Z');
    reply = () => ({ status: 200, body: { metadata: { name: 'op' } } });
    expect((await kube.get('Lease', 'ns', 'op'))!.spec).toBeUndefined();
  });
});

describe('clientNodeWatches', () => {
  it('watches ConfluxClusters, and the StatefulSets, pods and Jobs of the operator by label', async () => {
    const { clientNodeWatches } = await import('../../operator/src/main.js');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'test', token: 'sesame' }],
      contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
      currentContext: 'test',
    });
    for (const namespace of ['ns', undefined]) {
      const sources = clientNodeWatches(kc, namespace);
      expect(sources.map((s) => s.name)).toEqual(['confluxclusters', 'statefulsets', 'pods', 'jobs']);
      const [clusters, sts, pods] = sources as [(typeof sources)[0], (typeof sources)[0], (typeof sources)[0]];
      expect(clusters.toRef({ metadata: { name: 'demo', namespace: 'ns' } })).toEqual({ namespace: 'ns', name: 'demo' });
      expect(clusters.toRef({ metadata: {} })).toBeNull();
      expect(pods.toRef({ metadata: { name: 'demo-1', namespace: 'ns', labels: { 'app.kubernetes.io/instance': 'demo' } } })).toEqual({ namespace: 'ns', name: 'demo' });
      expect(sts.toRef({ metadata: { name: 'x', labels: {} } })).toBeNull();
      // Each informer lists with its selector when started.
      // Lists get an empty list; watches an empty event stream (a list body there would be read as
      // an event without an object, which client-node's ListWatch dereferences and throws on).
      reply = (req) => (req.url.includes('watch=true') ? { status: 200, body: '' } : { status: 200, body: { metadata: { resourceVersion: '1' }, items: [] } });
      seen.length = 0;
      for (const s of sources) {
        const inf = s.make();
        inf.on('error', () => undefined);
        await inf.start();
        await inf.stop();
      }
      const lists = seen.filter((x) => !x.url.includes('watch=true')).map((x) => decodeURIComponent(x.url));
      const prefix = namespace === undefined ? '' : '/namespaces/ns';
      expect(lists).toEqual([
        `/apis/conflux.io/v1alpha1${prefix}/confluxclusters`,
        `/apis/apps/v1${prefix}/statefulsets?labelSelector=app.kubernetes.io/managed-by=conflux-operator`,
        `/api/v1${prefix}/pods?labelSelector=app.kubernetes.io/name=conflux,app.kubernetes.io/component=node`,
        `/apis/batch/v1${prefix}/jobs?labelSelector=app.kubernetes.io/managed-by=conflux-operator`,
      ]);
    }
  });
});
