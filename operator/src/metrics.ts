// The operator's Prometheus metrics, on its own Registry (never the global one).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ControllerMetrics } from './controller.js';
import type { MembershipChangeKind, ReconcileMetrics, StepResult } from './reconcile/types.js';

export class OperatorMetrics implements ReconcileMetrics, ControllerMetrics {
  readonly registry = new Registry();
  private readonly reconciles: Counter<'result'>;
  private readonly reconcileSeconds: Histogram<'result'>;
  private readonly errors: Counter;
  private readonly steps: Histogram<'step' | 'result'>;
  private readonly changes: Counter<'kind' | 'result'>;
  private readonly depth: Gauge;
  private readonly resyncs: Counter<'result'>;
  private readonly leader: Gauge;
  private readonly watchRestarts: Counter<'watch' | 'reason'>;

  constructor(o: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.reconciles = new Counter({ name: 'conflux_operator_reconcile_total', help: 'Reconcile passes by result (done, requeue, error).', labelNames: ['result'], registers });
    this.reconcileSeconds = new Histogram({
      name: 'conflux_operator_reconcile_duration_seconds',
      help: 'Duration of reconcile passes.',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.errors = new Counter({ name: 'conflux_operator_reconcile_errors_total', help: 'Reconcile passes that failed (retried with back-off).', registers });
    this.steps = new Histogram({
      name: 'conflux_operator_step_duration_seconds',
      help: 'Duration of reconcile steps by step and result.',
      labelNames: ['step', 'result'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15],
      registers,
    });
    this.changes = new Counter({
      name: 'conflux_operator_membership_changes_total',
      help: 'Raft membership changes made through the admin API, by kind and result.',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.depth = new Gauge({ name: 'conflux_operator_queue_depth', help: 'ConfluxClusters waiting to be reconciled.', registers });
    this.resyncs = new Counter({ name: 'conflux_operator_resyncs_total', help: 'Periodic lists of every ConfluxCluster, by result.', labelNames: ['result'], registers });
    this.leader = new Gauge({ name: 'conflux_operator_is_leader', help: '1 when this operator holds the leader lease (or runs without election).', registers });
    this.watchRestarts = new Counter({ name: 'conflux_operator_watch_restarts_total', help: 'Watches restarted, by watch and reason (error, age).', labelNames: ['watch', 'reason'], registers });
    if (o.processMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: 'conflux_operator_' });
  }

  reconciled(result: StepResult['kind'] | 'error', seconds: number): void {
    this.reconciles.inc({ result });
    this.reconcileSeconds.observe({ result }, seconds);
    if (result === 'error') this.errors.inc();
  }

  step(name: string, result: StepResult['kind'] | 'error', seconds: number): void {
    this.steps.observe({ step: name, result }, seconds);
  }

  membershipChange(kind: MembershipChangeKind, result: 'ok' | 'error'): void {
    this.changes.inc({ kind, result });
  }

  queueDepth(depth: number): void {
    this.depth.set(depth);
  }

  resync(result: 'ok' | 'error'): void {
    this.resyncs.inc({ result });
  }

  setLeader(leading: boolean): void {
    this.leader.set(leading ? 1 : 0);
  }

  watchRestarted(watch: string, reason: 'error' | 'age'): void {
    this.watchRestarts.inc({ watch, reason });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
