// The pod runner on its own (no API server): the operator's real StatefulSet pod template runs
// as a Conflux node in its own mount+UTS namespace, on its pod address, with its secret and data
// volumes at their mount paths and the hosts file naming the other pods; status follows the
// probes; terminate sends SIGTERM and deletes the Pod with a UID precondition.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { buildStatefulSet } from '../../../operator/src/specs/statefulset.js';
import type { ConfluxCluster } from '../../../operator/src/api/types.js';
import { waitFor } from '../../support/process-cluster.js';
import { AddressPool, type HostEntry } from './addresses.js';
import { MountPoints } from './mount-points.js';
import { PodRunner, type PodHost } from './pod-runner.js';
import type { KubeRest } from './rest.js';

const cluster: ConfluxCluster = {
  apiVersion: 'conflux.io/v1alpha1',
  kind: 'ConfluxCluster',
  metadata: { name: 'unit', namespace: 'ns1', uid: 'c-uid' },
  spec: { replicas: 1, image: 'conflux:test', storage: { size: '1Gi' } },
};

describe('PodRunner', () => {
  const root = mkdtempSync(join(tmpdir(), 'pod-runner-'));
  const mountPoints = new MountPoints('pod-runner-test');
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    mountPoints.release();
  });

  it('runs the StatefulSet pod as a node on its pod IP with its volumes, reports status, terminates', async () => {
    const sts = buildStatefulSet(cluster, 1, { clusterDomain: 'cluster.local', listenOnPodIP: true });
    const pod: V1Pod = {
      metadata: { name: 'unit-0', namespace: 'ns1', uid: 'pod-uid-0123456789', labels: sts.spec!.template.metadata!.labels! },
      spec: {
        ...sts.spec!.template.spec!,
        hostname: 'unit-0',
        subdomain: 'unit-peer',
        nodeName: 'n1',
        volumes: [...sts.spec!.template.spec!.volumes!, { name: 'data', persistentVolumeClaim: { claimName: 'data-unit-0' } }],
      },
    };
    const patches: V1PodStatus[] = [];
    const deletes: unknown[] = [];
    const rest = {
      get: async (path: string) => {
        if (path.endsWith('/secrets/unit-auth')) return { data: { 'admin-token': Buffer.from('adm').toString('base64'), 'peer-token': Buffer.from('peer').toString('base64') } };
        throw new Error(`unexpected GET ${path}`);
      },
      patch: async (_path: string, body: { status: V1PodStatus }) => {
        patches.push(body.status);
        return {};
      },
      delete: async (path: string, body: unknown) => {
        deletes.push({ path, body });
        return {};
      },
    } as unknown as KubeRest;
    const claimDir = join(root, 'pv-data-unit-0');
    mkdirSync(claimDir);
    const pool = new AddressPool('127.0.77.');
    const others: HostEntry[] = [{ ip: '127.0.77.200', names: ['unit-1.unit-peer.ns1.svc.cluster.local', 'unit-1'] }];
    let runner: PodRunner;
    let gone = false;
    const host: PodHost = {
      rest,
      nodeName: 'n1',
      hostIP: '127.0.0.1',
      clusterDomain: 'cluster.local',
      apiServer: null,
      allocateIP: () => pool.allocate(),
      releaseIP: (ip) => pool.release(ip),
      hostEntries: () => [runner.hostEntry()!, ...others].filter(Boolean),
      addressesChanged: () => runner.writeHosts(),
      ensureMountPoint: (p, isFile) => mountPoints.ensure(p, isFile),
      claimDirectory: async () => claimDir,
      log: () => undefined,
      gone: () => {
        gone = true;
      },
    };
    runner = new PodRunner(pod, host, root);
    await runner.start();
    expect(runner.ip).toBe('127.0.77.10');
    const last = () => patches[patches.length - 1]!;
    await waitFor('the node running', () => last()?.phase === 'Running' && last().containerStatuses?.[0]?.started === true, 60_000, 100);
    expect(last().podIP).toBe('127.0.77.10');
    expect(last().conditions?.find((c) => c.type === 'Initialized')?.status).toBe('True');
    // A condition's transition time is when its status last changed, not the time of the patch.
    const initializedAt = patches.map((p) => p.conditions?.find((c) => c.type === 'Initialized')).filter((c) => c?.status === 'True').map((c) => c!.lastTransitionTime);
    expect(new Set(initializedAt).size).toBe(1);
    // A node that waits to be added answers /healthz but not /readyz: not ready.
    expect(last().conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
    const r = await fetch('http://127.0.77.10:7070/admin/status', { headers: { authorization: 'Bearer adm' } });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { id: string; role: string }).id).toBe('unit-0');
    // The data volume is the claim's directory; the hosts file names the other pods.
    await waitFor('data dir in the claim directory', () => existsSync(join(claimDir, 'data')), 10_000, 100);
    const hosts = readFileSync(runner.hostsPath, 'utf8');
    expect(hosts).toContain('127.0.77.10\tunit-0.unit-peer.ns1.svc.cluster.local unit-0');
    expect(hosts).toContain('127.0.77.200\tunit-1.unit-peer.ns1.svc.cluster.local');
    expect(runner.logs()).toContain('unit-0');

    await runner.terminate(10);
    expect(gone).toBe(true);
    expect(deletes).toEqual([
      { path: '/api/v1/namespaces/ns1/pods/unit-0', body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: 'pod-uid-0123456789' } } },
    ]);
    expect(await fetch('http://127.0.77.10:7070/healthz').catch(() => null)).toBeNull();
    expect(pool.inUse).toBe(0);
  }, 90_000);
  it('restarts a container whose liveness probe fails (exec probes in its namespace), ends a Never pod as Failed', async () => {
    const patches = new Map<string, V1PodStatus[]>();
    const rest = {
      get: async (path: string) => {
        throw new Error(`unexpected GET ${path}`);
      },
      patch: async (path: string, body: { status: V1PodStatus }) => {
        const name = path.split('/')[6]!;
        patches.set(name, [...(patches.get(name) ?? []), body.status]);
        return {};
      },
      delete: async () => ({}),
    } as unknown as KubeRest;
    const pool = new AddressPool('127.0.78.');
    const runners: PodRunner[] = [];
    const host: PodHost = {
      rest,
      nodeName: 'n1',
      hostIP: '127.0.0.1',
      clusterDomain: 'cluster.local',
      apiServer: null,
      allocateIP: () => pool.allocate(),
      releaseIP: (ip) => pool.release(ip),
      hostEntries: () => runners.map((r) => r.hostEntry()).filter((e): e is HostEntry => e !== null),
      addressesChanged: () => runners.forEach((r) => r.writeHosts()),
      ensureMountPoint: (p, isFile) => mountPoints.ensure(p, isFile),
      claimDirectory: async () => null,
      log: () => undefined,
      gone: () => undefined,
    };
    const marker = join(root, 'alive-marker');
    const flaky: V1Pod = {
      metadata: { name: 'flaky', namespace: 'ns1', uid: 'uid-flaky-000000' },
      spec: {
        nodeName: 'n1',
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'main',
            image: 'conflux:test',
            command: ['sh', '-c', `touch ${marker}; exec sleep 600`],
            // Ready while the marker exists; the liveness probe fails until the marker is gone.
            readinessProbe: { exec: { command: ['test', '-e', marker] }, periodSeconds: 1, timeoutSeconds: 10 },
            livenessProbe: { exec: { command: ['sh', '-c', `test ! -e ${marker}.kill`] }, periodSeconds: 1, timeoutSeconds: 10, failureThreshold: 1 },
          },
        ],
      },
    };
    const failing: V1Pod = {
      metadata: { name: 'once', namespace: 'ns1', uid: 'uid-once-0000000' },
      spec: { nodeName: 'n1', restartPolicy: 'Never', containers: [{ name: 'main', image: 'conflux:test', command: ['sh', '-c', 'echo bye; exit 3'] }] },
    };
    const a = new PodRunner(flaky, host, root);
    const b = new PodRunner(failing, host, root);
    runners.push(a, b);
    try {
      await Promise.all([a.start(), b.start()]);
      const last = (n: string) => patches.get(n)?.at(-1);
      await waitFor('flaky ready', () => last('flaky')?.conditions?.find((c) => c.type === 'Ready')?.status === 'True', 30_000, 100);
      await waitFor('once failed', () => last('once')?.phase === 'Failed', 30_000, 100);
      expect(last('once')?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(3);
      expect(b.logs()).toContain('bye');
      // Make the liveness probe fail: the container is killed (SIGTERM) and started again.
      writeFileSync(`${marker}.kill`, '');
      await waitFor('a restart', () => (last('flaky')?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 60_000, 100);
      rmSync(`${marker}.kill`);
      const status = last('flaky')!.containerStatuses![0]!;
      expect(status.lastState?.terminated?.exitCode).toBe(143);
      expect(status.lastState?.terminated?.reason).toBe('Killed');
      await waitFor('flaky running and ready again', () => {
        const s = last('flaky');
        return s?.containerStatuses?.[0]?.state?.running !== undefined && s.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      }, 60_000, 100).catch((err) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(last('flaky'))}`);
      });
    } finally {
      await Promise.all([a.terminate(1), b.terminate(1)]);
    }
    expect(pool.inUse).toBe(0);
  }, 120_000);
});
