// The operator's real composition root (startOperator: controller, reconcile steps, metrics and its
// HTTP /metrics endpoint) on real timers, against the simulated Kubernetes and Conflux of the
// operator's unit tests (test/operator/fake-world.ts). What Prometheus scrapes from it is what a
// deployed operator exposes; only the cluster behind it is simulated (the e2e tests in test/k8s
// and test/charts run the operator against a real API server).
import { KubeError } from '../../operator/src/kube.js';
import { silentLogger } from '../../operator/src/logger.js';
import { startOperator, type RunningOperator } from '../../operator/src/main.js';
import { OperatorMetrics } from '../../operator/src/metrics.js';
import { DEFAULT_RECONCILE_OPTIONS } from '../../operator/src/reconcile/types.js';
import { realTimers } from '../../operator/src/timers.js';
import { World } from '../operator/fake-world.js';

export class SimulatedOperator {
  readonly world = new World({ replicas: 3 });
  private op: RunningOperator | null = null;
  private ticker: NodeJS.Timeout | null = null;

  get url(): string {
    if (!this.op) throw new Error('not started');
    return `http://127.0.0.1:${this.op.port}`;
  }

  async start(): Promise<void> {
    this.op = await startOperator(
      { listen: { host: '127.0.0.1', port: 0 }, reconcile: DEFAULT_RECONCILE_OPTIONS, workers: 2, resyncMs: 1000 },
      {
        kube: this.world.kube,
        admin: this.world.conflux,
        timers: realTimers,
        logger: silentLogger,
        metrics: new OperatorMetrics({ processMetrics: true }),
        watches: [],
        exit: (code) => {
          throw new Error(`the simulated operator asked to exit with ${code}`);
        },
      },
    );
    // The simulated StatefulSet controller and kubelet.
    this.ticker = setInterval(() => this.world.sync(), 100);
  }

  /** Scale the ConfluxCluster (membership changes by the operator). */
  scale(replicas: number): void {
    this.world.setSpec({ replicas });
  }

  /** The next `times` reads of the ConfluxCluster fail: reconcile errors. */
  failReconciles(times: number): void {
    this.world.kube.failOn({ op: 'get', kind: 'ConfluxCluster' }, new KubeError(500, 'injected by the test'), times);
  }

  members(): string[] {
    return this.world.conflux.config_.map((m) => `${m.id}:${m.role}`);
  }

  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    await this.op?.stop();
  }
}
