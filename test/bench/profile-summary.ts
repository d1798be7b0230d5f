// Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time, and the
// source files with the most self time, so that a profile of the leader under load can be read
// in a terminal.
//   node dist/test/bench/profile-summary.js FILE.cpuprofile [top=25] [--wall]
// Samples are counted, not their time deltas: on a machine where the process waits for a CPU, a
// delta also holds the time it was not running (charged to whatever it was doing when preempted),
// while the sampler's signal is only handled when the thread runs. --wall weighs by the deltas.
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
if (!file) {
  console.error('usage: profile-summary FILE.cpuprofile [top]');
  process.exit(2);
}
const top = Number(process.argv.slice(3).find((a) => !a.startsWith('--')) ?? 25);
const wall = process.argv.includes('--wall');
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + (wall ? (p.timeDeltas[i] ?? 0) : 1));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const short = (url: string): string => url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'nm/').replace(/^.*\/dist\//, '');
const fnKey = (n: Node): string => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

// Inclusive time per function (counted once per stack).
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = fnKey(byId.get(cur)!);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}

const selfBy = (key: (n: Node) => string): [string, number][] => {
  const m = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const k = key(byId.get(id)!);
    m.set(k, (m.get(k) ?? 0) + us);
  }
  return [...m].sort((a, b) => b[1] - a[1]);
};
const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`${file}: ${wall ? `${(total / 1e6).toFixed(2)} s` : `${total} samples`} over ${((p.endTime - p.startTime) / 1e6).toFixed(2)} s`);
console.log('\nself time by function:');
for (const [k, us] of selfBy(fnKey).slice(0, top)) console.log(`${pct(us)}  ${k}`);
console.log('\nself time by file:');
for (const [k, us] of selfBy((n) => short(n.callFrame.url) || `(${n.callFrame.functionName})`).slice(0, top)) console.log(`${pct(us)}  ${k}`);
console.log('\ninclusive time by function:');
for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
