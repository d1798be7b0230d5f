// One seed decides everything about a run: cluster shape, Raft tunables, network and disk
// behaviour, fault odds and workload. `fromSeed` is the only place those choices are made, and the
// options are printed first in a verbose run so that a failure can be read against them.
import { stream, type SimRng } from './random.js';

export interface NetworkOptions {
  /** Probability that a message is silently lost. */
  lossRate: number;
  /** Probability that a message is delivered twice (with independent delays). */
  duplicateRate: number;
  delayMinMs: number;
  delayMaxMs: number;
  /** Probability of a long delay (reordering well past later messages). */
  tailRate: number;
  tailMaxMs: number;
}

export interface FaultOptions {
  /** Every this many virtual ms, the fault scheduler rolls the dice below. */
  intervalMs: number;
  crashOdds: number;
  /** Most nodes down at once (can exceed a minority: then the cluster must just wait). */
  maxDown: number;
  downMinMs: number;
  downMaxMs: number;
  partitionOdds: number;
  partitionMinMs: number;
  partitionMaxMs: number;
  /** Restart a voter with an empty disk and a new incarnation (needs known incarnations). */
  wipeOdds: number;
  /** Inject a message from another cluster, or a malformed one, carrying a huge term. */
  injectOdds: number;
  /** Membership change (add learner / promote / remove, the leader included). */
  membershipOdds: number;
  transferOdds: number;
}

export interface WorkloadOptions {
  clients: number;
  keys: number;
  readRate: number;
  casRate: number;
  thinkMinMs: number;
  thinkMaxMs: number;
  /** A client gives up waiting after this long; the operation is then indeterminate. */
  opTimeoutMs: number;
}

export interface RaftTunables {
  electionTicksMin: number;
  electionTicksMax: number;
  heartbeatTicks: number;
  maxInflightAppends: number;
  maxEntriesPerAppend: number;
  maxBytesPerAppend: number;
  snapshotEntries: number;
  snapshotBytes: number;
  compactionKeepEntries: number;
  leaseReads: boolean;
  promoteLagEntriesMax: number;
}

export interface SimOptions {
  seed: number;
  /** Node ids n1..nN exist; the first `initialVoters` bootstrap the cluster, the rest wait to be added. */
  poolSize: number;
  initialVoters: number;
  /** Bootstrap membership carries incarnations (else '' and the leader pins them). */
  incarnationsKnown: boolean;
  tickMs: number;
  /** Per-node tick period deviates by up to this fraction (clocks that run at different rates). */
  clockSkew: number;
  fsyncMinMs: number;
  fsyncMaxMs: number;
  network: NetworkOptions;
  faults: FaultOptions;
  workload: WorkloadOptions;
  raft: RaftTunables;
  safetyPhaseMs: number;
  /** After healing: a leader and a committed, everywhere-applied proposal within this bound. */
  livenessBoundMs: number;
  /** Removed nodes are stopped after removal with this probability (else they keep running). */
  stopRemovedOdds: number;
}

export function fromSeed(seed: number): SimOptions {
  const rng = stream(seed, 'options');
  const poolSize = rng.int(1, 8);
  const initialVoters = rng.int(1, Math.min(poolSize, 5) + 1);
  // A fifth of the runs are calm, so that a plain bug is not hidden behind fault noise.
  const calm = rng.chance(0.2);
  const clockSkew = rng.chance(0.5) ? 0 : rng.real(0, 0.1);
  return {
    seed,
    poolSize,
    initialVoters,
    incarnationsKnown: rng.chance(0.7),
    tickMs: 10,
    clockSkew,
    fsyncMinMs: rng.real(0.05, 1),
    fsyncMaxMs: rng.real(1, 12),
    network: networkOptions(rng, calm),
    faults: faultOptions(rng, calm, poolSize),
    workload: {
      clients: rng.int(1, 5),
      keys: rng.int(1, 4),
      readRate: rng.real(0.2, 0.5),
      casRate: rng.real(0.1, 0.4),
      thinkMinMs: 0,
      thinkMaxMs: rng.int(5, 60),
      opTimeoutMs: rng.int(300, 1500),
    },
    raft: {
      electionTicksMin: 10,
      electionTicksMax: rng.pick([15, 20, 30]),
      heartbeatTicks: rng.pick([1, 1, 2, 3]),
      maxInflightAppends: rng.pick([1, 2, 4, 8]),
      maxEntriesPerAppend: rng.pick([1, 3, 16, 1024]),
      maxBytesPerAppend: rng.pick([256, 4096, 4 * 1024 * 1024]),
      snapshotEntries: rng.pick([4, 10, 25, 100, 10_000]),
      // From a stream of its own, so that every other option of a seed stays what it was. The
      // workload's entries hold tens of bytes: the small bounds take snapshots by size.
      snapshotBytes: stream(seed, 'options.snapshotBytes').pick([300, 3_000, 64 * 1024 * 1024]),
      compactionKeepEntries: rng.pick([0, 2, 10]),
      // Lease reads assume clocks that advance at the same rate (config.ts).
      leaseReads: clockSkew === 0 && rng.chance(0.2),
      promoteLagEntriesMax: rng.pick([2, 10, 100]),
    },
    safetyPhaseMs: rng.int(1000, 3500),
    livenessBoundMs: 6000,
    stopRemovedOdds: rng.real(0, 1),
  };
}

function networkOptions(rng: SimRng, calm: boolean): NetworkOptions {
  const delayMaxMs = rng.real(1, 15);
  return {
    lossRate: calm ? 0 : rng.pick([0, 0.01, 0.05, 0.1, 0.2, 0.3]),
    duplicateRate: calm ? 0 : rng.pick([0, 0, 0.01, 0.05]),
    delayMinMs: rng.real(0.1, Math.min(1, delayMaxMs)),
    delayMaxMs,
    tailRate: calm ? 0 : rng.pick([0, 0.01, 0.05]),
    tailMaxMs: rng.int(30, 400),
  };
}

function faultOptions(rng: SimRng, calm: boolean, poolSize: number): FaultOptions {
  const scale = calm ? 0 : 1;
  return {
    intervalMs: rng.int(20, 100),
    crashOdds: scale * rng.pick([0, 0.02, 0.05, 0.15]),
    maxDown: rng.int(1, poolSize + 1),
    downMinMs: 5,
    downMaxMs: rng.int(50, 800),
    partitionOdds: scale * rng.pick([0, 0.03, 0.1, 0.2]),
    partitionMinMs: 20,
    partitionMaxMs: rng.int(100, 1000),
    wipeOdds: scale * rng.pick([0, 0, 0.02, 0.05]),
    injectOdds: scale * rng.pick([0, 0.02, 0.1]),
    membershipOdds: rng.pick([0, 0.05, 0.15, 0.3]),
    transferOdds: rng.pick([0, 0.02, 0.1]),
  };
}

/** One line per group: what a human needs to read a failing run. */
export function describeOptions(o: SimOptions): string {
  const r = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(3));
  const obj = (x: object): string =>
    Object.entries(x)
      .map(([k, v]) => `${k}=${typeof v === 'number' ? r(v) : String(v)}`)
      .join(' ');
  return [
    `options seed=${o.seed} pool=${o.poolSize} voters=${o.initialVoters} incarnationsKnown=${o.incarnationsKnown} ` +
      `tickMs=${o.tickMs} clockSkew=${r(o.clockSkew)} fsync=${r(o.fsyncMinMs)}..${r(o.fsyncMaxMs)}ms ` +
      `safetyPhaseMs=${o.safetyPhaseMs} livenessBoundMs=${o.livenessBoundMs} stopRemovedOdds=${r(o.stopRemovedOdds)}`,
    `  network ${obj(o.network)}`,
    `  faults  ${obj(o.faults)}`,
    `  clients ${obj(o.workload)}`,
    `  raft    ${obj(o.raft)}`,
  ].join('\n');
}
