// The operator's composition root: the only module that wires the Kubernetes client, informers,
// the admin client, prom-client and the HTTP endpoints together. Everything below depends on
// small interfaces (Kube, AdminClient, Timers, Logger), which is what the unit tests replace.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from './api/types.js';
import type { AdminClient } from './conflux-admin.js';
import { Controller } from './controller.js';
import type { Kube } from './kube.js';
import { LeaderElector, type LeaderElectionOptions } from './leader-election.js';
import type { Logger } from './logger.js';
import type { OperatorMetrics } from './metrics.js';
import { reconcile, type ClusterRef } from './reconcile/reconcile.js';
import { DEFAULT_RECONCILE_OPTIONS, type MembershipChangeKind, type ReconcileContext, type ReconcileOptions } from './reconcile/types.js';
import { APP_NAME, LABELS, MANAGED_BY } from './specs/names.js';
import { randomToken } from './specs/secret.js';
import type { Timers } from './timers.js';
import { SupervisedWatch, type InformerLike } from './watch.js';

export interface OperatorConfig {
  /** Watch and reconcile only this namespace; every namespace when undefined. */
  namespace?: string;
  listen: { host: string; port: number };
  /** Absent: run without election (one replica only). */
  leaderElection?: LeaderElectionOptions;
  reconcile: ReconcileOptions;
  workers: number;
  resyncMs: number;
  /** Test only: exit right after this change (the e2e crash scenarios). */
  crashAfter?: MembershipChangeKind | 'statefulset-scaled';
}

/** A watch source: an informer factory and how an object names its ConfluxCluster. */
export interface WatchSource {
  name: string;
  make(): InformerLike<KubernetesObject>;
  toRef(obj: KubernetesObject): ClusterRef | null;
}

export interface OperatorDeps {
  kube: Kube;
  admin: AdminClient;
  timers: Timers;
  logger: Logger;
  metrics: OperatorMetrics;
  watches: WatchSource[];
  /** process.exit, replaceable in tests. */
  exit(code: number): void;
}

export interface RunningOperator {
  port: number;
  controller: Controller;
  isLeader(): boolean;
  stop(): Promise<void>;
}

export async function startOperator(config: OperatorConfig, deps: OperatorDeps): Promise<RunningOperator> {
  const { kube, timers, logger, metrics } = deps;
  let crashed = false;
  const ctx: ReconcileContext = {
    kube,
    admin: deps.admin,
    nowMs: () => timers.wallMs(),
    sleep: (ms) => new Promise((resolve) => timers.setTimeout(resolve, ms)),
    logger,
    metrics,
    options: config.reconcile,
    randomToken,
    afterChange: (what) => {
      if (config.crashAfter !== undefined && what === config.crashAfter && !crashed) {
        crashed = true;
        logger.warn('crash injected (--crash-after)', { after: what });
        deps.exit(3);
      }
    },
  };
  const controller = new Controller({
    reconcile: (ref) => reconcile(ctx, ref),
    listClusters: async () =>
      (await kube.list('ConfluxCluster', config.namespace)).map((c) => ({ namespace: c.metadata.namespace ?? 'default', name: c.metadata.name! })),
    timers,
    logger,
    metrics,
    workers: config.workers,
    resyncMs: config.resyncMs,
  });
  const watches = deps.watches.map(
    (w) =>
      new SupervisedWatch<KubernetesObject>({
        name: w.name,
        make: w.make,
        onObject: (obj) => {
          const ref = w.toRef(obj);
          if (ref !== null) controller.enqueue(ref);
        },
        timers,
        logger,
        onRestart: (reason) => metrics.watchRestarted(w.name, reason),
      }),
  );

  let working = false;
  let stopping = false;
  const startWork = () => {
    if (working || stopping) return;
    working = true;
    metrics.setLeader(true);
    for (const w of watches) w.start();
    controller.start();
    logger.info('reconciling', { namespace: config.namespace ?? '(all)' });
  };
  const stopWork = async () => {
    if (!working) return;
    working = false;
    metrics.setLeader(false);
    await Promise.all(watches.map((w) => w.stop()));
    await controller.stop();
  };

  const elector =
    config.leaderElection === undefined
      ? null
      : new LeaderElector(kube, timers, logger, config.leaderElection, {
          onStartedLeading: startWork,
          onStoppedLeading: () => {
            if (stopping) return;
            // Another operator may lead by now: stop at once and restart as a candidate.
            logger.error('stopped leading; exiting');
            void stopWork().finally(() => deps.exit(1));
          },
        });

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET' }).end();
      return;
    }
    if (path === '/healthz') {
      // A standby (not leading) is healthy; a leader is healthy while it can list clusters.
      const ok = !stopping && (!working || controller.healthy());
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ status: ok ? 'ok' : 'unhealthy', leader: working }));
      return;
    }
    if (path === '/metrics') {
      metrics.render().then(
        ({ contentType, body }) => res.writeHead(200, { 'Content-Type': contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { code: 'route_not_found', message: `no route ${path}` } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info('operator listening', { host: config.listen.host, port, leaderElection: elector !== null });

  if (elector === null) startWork();
  else elector.start();

  return {
    port,
    controller,
    isLeader: () => working,
    stop: async () => {
      if (stopping) return;
      stopping = true;
      await stopWork();
      await elector?.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      logger.info('operator stopped');
    },
  };
}

/** Informers on client-node for ConfluxClusters and the StatefulSets, pods and Jobs (backup, restore) they own. */
export function clientNodeWatches(kc: KubeConfig, namespace: string | undefined): WatchSource[] {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const nsPath = namespace === undefined ? '' : `/namespaces/${namespace}`;
  const byInstance = (obj: KubernetesObject): ClusterRef | null => {
    const name = obj.metadata?.labels?.[LABELS.instance];
    return name === undefined ? null : { namespace: obj.metadata?.namespace ?? 'default', name };
  };
  const podSelector = `${LABELS.name}=${APP_NAME},${LABELS.component}=node`;
  const stsSelector = `${LABELS.managedBy}=${MANAGED_BY}`;
  const cr = { group: GROUP, version: VERSION, plural: PLURAL };
  return [
    {
      name: 'confluxclusters',
      make: () =>
        makeInformer<KubernetesObject>(
          kc,
          `/apis/${GROUP}/${VERSION}${nsPath}/${PLURAL}`,
          () =>
            (namespace === undefined
              ? custom.listClusterCustomObject(cr)
              : custom.listNamespacedCustomObject({ ...cr, namespace })) as Promise<KubernetesListObject<KubernetesObject>>,
        ),
      toRef: (obj) => (obj.metadata?.name ? { namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name } : null),
    },
    {
      name: 'statefulsets',
      make: () =>
        makeInformer<KubernetesObject>(
          kc,
          `/apis/apps/v1${nsPath}/statefulsets`,
          () =>
            namespace === undefined
              ? apps.listStatefulSetForAllNamespaces({ labelSelector: stsSelector })
              : apps.listNamespacedStatefulSet({ namespace, labelSelector: stsSelector }),
          stsSelector,
        ),
      toRef: byInstance,
    },
    {
      name: 'pods',
      make: () =>
        makeInformer<KubernetesObject>(
          kc,
          `/api/v1${nsPath}/pods`,
          () => (namespace === undefined ? core.listPodForAllNamespaces({ labelSelector: podSelector }) : core.listNamespacedPod({ namespace, labelSelector: podSelector })),
          podSelector,
        ),
      toRef: byInstance,
    },
    {
      // A backup or restore Job that finishes changes the status (and a restore lets pods start).
      name: 'jobs',
      make: () =>
        makeInformer<KubernetesObject>(
          kc,
          `/apis/batch/v1${nsPath}/jobs`,
          () =>
            namespace === undefined
              ? batch.listJobForAllNamespaces({ labelSelector: stsSelector })
              : batch.listNamespacedJob({ namespace, labelSelector: stsSelector }),
          stsSelector,
        ),
      toRef: byInstance,
    },
  ];
}
