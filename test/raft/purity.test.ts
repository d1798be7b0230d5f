// The core must stay free of I/O, clocks and global randomness (style.md point 1): this is what lets
// the simulator replay any run from its seed. Stands in for an ESLint no-restricted-imports rule.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '../../node/src/raft');
const forbidden: [RegExp, string][] = [
  [/from ['"](node:)?(fs|fs\/promises|net|http|https|dgram|child_process|timers|worker_threads|os|crypto)['"]/, 'I/O or OS import'],
  [/\bDate\.now\(|\bnew Date\(|performance\.now\(/, 'clock read'],
  [/Math\.random\(/, 'global randomness'],
  [/\bset(Timeout|Interval|Immediate)\(/, 'timer'],
  [/\bprocess\./, 'process access'],
  [/from ['"](express|classic-level|winston|prom-client)['"]/, 'driver dependency'],
];

describe('node/src/raft is pure', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });
  it.each(files)('%s uses no I/O, clocks, timers or global randomness', (file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    const hits = forbidden.filter(([re]) => re.test(text)).map(([, what]) => what);
    expect(hits).toEqual([]);
  });
});
