// How fast is the pure core? Three RaftCores in one process, an in-memory driver that persists
// instantly and delivers messages at once, batches of 100 proposals. Everything measured here is
// core CPU: encoding, fsync and the network are the driver's and are benchmarked elsewhere.
//
// Run: make bench-core   (or: node dist/test/bench/raft-core-bench.js [seconds])
import { bootstrapState, defaultRaftTunables } from '../../node/src/raft/config.js';
import { RaftCore } from '../../node/src/raft/core.js';
import { seededRng } from '../../node/src/raft/rng.js';
import type { Message } from '../../node/src/raft/types.js';

const seconds = Number(process.argv[2] ?? 5);
const batch = 100;
const ids = ['n1', 'n2', 'n3'];
const membership = { members: ids.map((id) => ({ id, incarnation: `i-${id}`, role: 'voter' as const, peerURL: '', clientURL: '' })) };
const cores = new Map(
  ids.map((id, k) => [id, new RaftCore({ ...defaultRaftTunables, id, incarnation: `i-${id}`, clusterId: 'bench', rng: seededRng(k + 1) }, bootstrapState(membership))]),
);
let applied = 0;
const queue: Message[] = [];

function pump(): void {
  for (let rounds = 0; rounds < 1000; rounds++) {
    for (const [id, core] of cores) {
      for (const a of core.takeActions()) {
        if (a.kind === 'send') queue.push(a.msg);
        else if (a.kind === 'persist' && a.entries.length > 0) core.persisted(a.entries.at(-1)!.index, a.entries.at(-1)!.term);
        else if (a.kind === 'apply' && id === 'n1') applied += a.entries.length;
        else if (a.kind === 'take-snapshot') core.snapshotTaken({ index: a.index, term: core.status().term, membership });
      }
    }
    if (queue.length === 0) return;
    const batchMsgs = queue.splice(0);
    for (const m of batchMsgs) cores.get(m.to)!.step(m);
  }
}

const leader = cores.get('n1')!;
while (leader.status().role !== 'leader') {
  leader.tick();
  pump();
}
const payload = new Uint8Array(256);
const run = (durationMs: number): { entries: number; ms: number } => {
  const start = performance.now();
  const startCommit = leader.status().commit;
  while (performance.now() - start < durationMs) {
    for (let i = 0; i < batch; i++) leader.propose(payload);
    pump();
  }
  return { entries: leader.status().commit - startCommit, ms: performance.now() - start };
};
run(1000); // warm-up: let the JIT settle
const { entries, ms } = run(seconds * 1000);
const perSecond = Math.round((entries / ms) * 1000);
console.log(JSON.stringify({ bench: 'raft-core', nodes: 3, batch, entries, seconds: +(ms / 1000).toFixed(2), committedPerSecond: perSecond, appliedOnLeader: applied }));
console.log(`raft core: ${perSecond.toLocaleString('en-US')} committed entries/s (3 nodes, batches of ${batch}, one core)`);
