// The pure builders: snapshots of each object, and the properties that matter stated explicitly
// (a snapshot update must not silently drop one of them).
import { describe, expect, it } from 'vitest';
import {
  buildAuthSecret,
  buildClientService,
  buildPeerService,
  buildPodDisruptionBudget,
  buildStatefulSet,
  contentHash,
  DEFAULT_STATEFULSET_OPTIONS,
  isOwnedBy,
  maxUnavailableFor,
  memberURLs,
  nodeArgs,
  ordinalOf,
  ownerReference,
  secretValue,
  selectorString,
  SPEC_HASH_ANNOTATION,
  stableJson,
} from '../../operator/src/specs/index.js';
import { parseNodeFlags } from '../../node/src/cli/node-flags.js';
import { makeCluster } from './fixtures.js';

const cluster = makeCluster();
const owner = { apiVersion: 'conflux.io/v1alpha1', kind: 'ConfluxCluster', name: 'demo', uid: 'uid-of-demo', controller: true, blockOwnerDeletion: true };

describe('names and labels', () => {
  it('are deterministic and owned by the cluster', () => {
    expect(ownerReference(cluster)).toEqual(owner);
    expect(selectorString(cluster)).toBe('app.kubernetes.io/name=conflux,app.kubernetes.io/instance=demo,app.kubernetes.io/component=node');
    expect(memberURLs(cluster, 'demo-2', { clusterDomain: 'cluster.local' })).toEqual({
      peerURL: 'http://demo-2.demo-peer.conflux.svc.cluster.local:7071',
      clientURL: 'http://demo-2.demo-peer.conflux.svc.cluster.local:7070',
    });
  });

  it('parse ordinals of this cluster only', () => {
    expect(ordinalOf(cluster, 'demo-0')).toBe(0);
    expect(ordinalOf(cluster, 'demo-12')).toBe(12);
    for (const other of ['demo-01', 'demo-', 'demo-x', 'demox-1', 'other-1', 'demo-1-2', 'demo-123456']) expect(ordinalOf(cluster, other)).toBeNull();
  });

  it('recognise owned objects by controller uid', () => {
    expect(isOwnedBy({ metadata: { ownerReferences: [owner] } }, cluster)).toBe(true);
    expect(isOwnedBy({ metadata: { ownerReferences: [{ ...owner, controller: false }] } }, cluster)).toBe(false);
    expect(isOwnedBy({ metadata: { ownerReferences: [{ ...owner, uid: 'other' }] } }, cluster)).toBe(false);
    expect(isOwnedBy({ metadata: {} }, cluster)).toBe(false);
  });

  it('hash content regardless of key order', () => {
    expect(stableJson({ b: 1, a: [{ d: 1, c: undefined }] })).toBe('{"a":[{"d":1}],"b":1}');
    expect(contentHash({ a: 1, b: 2 })).toBe(contentHash({ b: 2, a: 1 }));
    expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: 2 }));
  });

  it('refuse clusters that were not read from the API server', () => {
    expect(() => ownerReference({ ...cluster, metadata: { name: 'x' } })).toThrow(/no uid/);
    expect(() => ordinalOf({ ...cluster, metadata: {} }, 'x-1')).toThrow(/without metadata.name/);
  });
});

describe('Services', () => {
  it('headless peer Service publishes not-ready pods', () => {
    const svc = buildPeerService(cluster);
    expect(svc.metadata).toMatchObject({ name: 'demo-peer', namespace: 'conflux', ownerReferences: [owner] });
    expect(svc.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(svc.spec!.ports!.map((p) => p.port)).toEqual([7071, 7070]);
    expect(svc).toMatchSnapshot();
  });

  it('client Service selects the node pods on the client port', () => {
    const svc = buildClientService(cluster);
    expect(svc.metadata).toMatchObject({ name: 'demo', ownerReferences: [owner] });
    expect(svc.spec).toMatchObject({ type: 'ClusterIP', selector: { 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': 'node' } });
    expect(svc.spec!.publishNotReadyAddresses).toBeUndefined();
    expect(svc).toMatchSnapshot();
  });
});

describe('auth Secret', () => {
  it('holds the two tokens, base64', () => {
    const s = buildAuthSecret(cluster, { admin: 'a'.repeat(64), peer: 'p'.repeat(64) });
    expect(s.metadata).toMatchObject({ name: 'demo-auth', ownerReferences: [owner] });
    expect(secretValue(s, 'admin-token')).toBe('a'.repeat(64));
    expect(secretValue(s, 'peer-token')).toBe('p'.repeat(64));
    expect(secretValue({ stringData: { k: ' v \n' } }, 'k')).toBe('v');
    expect(secretValue({}, 'k')).toBeUndefined();
    expect(s).toMatchSnapshot();
  });
});

describe('PodDisruptionBudget', () => {
  it('keeps a majority: maxUnavailable = floor((n-1)/2)', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 9].map(maxUnavailableFor)).toEqual([0, 0, 1, 1, 2, 2, 3, 4]);
    const pdb = buildPodDisruptionBudget(cluster, 5);
    expect(pdb.spec).toMatchObject({ maxUnavailable: 2, selector: { matchLabels: { 'app.kubernetes.io/instance': 'demo' } } });
    expect(pdb.metadata!.ownerReferences).toEqual([owner]);
    expect(buildPodDisruptionBudget(cluster, 3).metadata!.annotations![SPEC_HASH_ANNOTATION]).not.toBe(pdb.metadata!.annotations![SPEC_HASH_ANNOTATION]);
    expect(pdb).toMatchSnapshot();
  });
});

describe('StatefulSet', () => {
  const sts = buildStatefulSet(cluster, 3);
  const pod = sts.spec!.template.spec!;
  const container = pod.containers[0]!;

  it('is Parallel, OnDelete, with a PVC per pod and the owner reference', () => {
    expect(sts.metadata).toMatchObject({ name: 'demo', namespace: 'conflux', ownerReferences: [owner] });
    expect(sts.spec).toMatchObject({ replicas: 3, serviceName: 'demo-peer', podManagementPolicy: 'Parallel', updateStrategy: { type: 'OnDelete' } });
    expect(sts.spec!.persistentVolumeClaimRetentionPolicy).toEqual({ whenScaled: 'Delete', whenDeleted: 'Retain' });
    expect(sts.spec!.volumeClaimTemplates![0]!.spec).toMatchObject({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });
    const selector = { 'app.kubernetes.io/name': 'conflux', 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': 'node' };
    expect(sts.spec!.selector!.matchLabels).toEqual(selector);
    expect(sts.spec!.template.metadata!.labels).toMatchObject(selector);
  });

  it('runs conflux-node without --initial-cluster or --bootstrap, id from the pod name', () => {
    expect(container.command).toEqual(['conflux-node']);
    expect(container.args).toContain('--id=$(POD_NAME)');
    expect(container.args!.some((a) => a.startsWith('--initial-cluster') || a === '--bootstrap')).toBe(false);
    expect(container.env).toContainEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } });
    expect(container.args).toContain('--data-dir=/var/lib/conflux/data');
    expect(container.volumeMounts).toContainEqual({ name: 'data', mountPath: '/var/lib/conflux' });
    expect(container.args).toContain('--advertise-peer=http://$(POD_NAME).demo-peer.conflux.svc.cluster.local:7071');
    expect(container.args).toContain('--advertise-client=http://$(POD_NAME).demo-peer.conflux.svc.cluster.local:7070');
  });

  it('mounts the token files from the auth Secret', () => {
    expect(container.args).toEqual(expect.arrayContaining(['--admin-token-file=/etc/conflux/auth/admin-token', '--peer-token-file=/etc/conflux/auth/peer-token']));
    expect(pod.volumes).toContainEqual({ name: 'auth', secret: { secretName: 'demo-auth', items: [{ key: 'admin-token', path: 'admin-token' }, { key: 'peer-token', path: 'peer-token' }] } });
  });

  it('probes /readyz and /healthz, terminates gracefully, has no service links', () => {
    expect(container.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'client' });
    expect(container.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'client' });
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('passes flags the node accepts (parsed by conflux-node itself)', () => {
    const c = makeCluster({
      raft: { heartbeatIntervalMs: 50, electionTicksMin: 12, electionTicksMax: 24, snapshotEntries: 5000, leaseReads: true },
      logLevel: 'debug',
      maxValueBytes: 2048,
      quotaBytes: 64 * 1024 * 1024,
      history: { retainRevisions: 500, retainMs: 60_000, retainBytes: 8 * 1024 * 1024 },
      auth: { secretName: 'mine', clientTokensKey: 'clients' },
    });
    const expanded = nodeArgs(c, { clusterDomain: 'k8s.test', listenOnPodIP: true }).map((a) => a.replace(/\$\(POD_NAME\)/g, 'demo-1').replace(/\$\(POD_IP\)/g, '10.1.2.3'));
    const flags = parseNodeFlags(expanded, {});
    expect(flags).toMatchObject({
      id: 'demo-1',
      dataDir: '/var/lib/conflux/data',
      listenClient: { host: '10.1.2.3', port: 7070 },
      listenPeer: { host: '10.1.2.3', port: 7071 },
      advertisePeer: 'http://demo-1.demo-peer.conflux.svc.k8s.test:7071',
      mode: { kind: 'join' },
      adminTokenFile: '/etc/conflux/auth/admin-token',
      peerTokenFile: '/etc/conflux/auth/peer-token',
      authTokenFile: '/etc/conflux/auth/clients',
      logLevel: 'debug',
      maxValueBytes: 2048,
      historyRetainRevisions: 500,
      historyRetainMs: 60_000,
      historyRetainBytes: 8 * 1024 * 1024,
      quotaBytes: 64 * 1024 * 1024,
      tunables: { heartbeatIntervalMs: 50, electionTicksMin: 12, electionTicksMax: 24, snapshotEntries: 5000, leaseReads: true },
    });
    const s = buildStatefulSet(c, 1).spec!.template.spec!;
    expect(s.volumes![0]!.secret).toEqual({ secretName: 'mine', items: ['admin-token', 'peer-token', 'clients'].map((k) => ({ key: k, path: k })) });
  });

  it('applies pod template overrides without letting labels change the selector', () => {
    const c = makeCluster({
      podTemplate: {
        metadata: { labels: { team: 'config', 'app.kubernetes.io/instance': 'evil' }, annotations: { a: 'b' } },
        spec: { nodeSelector: { disk: 'ssd' }, tolerations: [{ key: 'k', operator: 'Exists' }], priorityClassName: 'high', terminationGracePeriodSeconds: 90, serviceAccountName: 'sa' },
      },
      resources: { requests: { cpu: '500m', memory: '256Mi' } },
      imagePullPolicy: 'Always',
      storage: { size: '10Gi', storageClassName: 'fast' },
    });
    const s = buildStatefulSet(c, 5, DEFAULT_STATEFULSET_OPTIONS);
    const t = s.spec!.template;
    expect(t.metadata!.labels).toMatchObject({ team: 'config', 'app.kubernetes.io/instance': 'demo' });
    expect(t.metadata!.annotations).toEqual({ a: 'b' });
    expect(t.spec).toMatchObject({ nodeSelector: { disk: 'ssd' }, priorityClassName: 'high', terminationGracePeriodSeconds: 90, serviceAccountName: 'sa' });
    expect(t.spec!.containers[0]).toMatchObject({ imagePullPolicy: 'Always', resources: { requests: { cpu: '500m' } } });
    expect(s.spec!.volumeClaimTemplates![0]!.spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '10Gi' } } });
  });

  it('changes its hash with the template but not with replicas', () => {
    const hash = (s: typeof sts) => s.metadata!.annotations![SPEC_HASH_ANNOTATION];
    expect(hash(buildStatefulSet(cluster, 5))).toBe(hash(sts));
    expect(hash(buildStatefulSet(makeCluster({ image: 'conflux:0.2.0' }), 3))).not.toBe(hash(sts));
  });

  it('matches the snapshot', () => {
    expect(sts).toMatchSnapshot();
  });
});
