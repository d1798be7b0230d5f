// The store bounds the operator passes to the pods: the spec's, else derived from the memory limit
// (a pod must be refused writes before it is OOM-killed), else the node defaults.
import { describe, expect, it } from 'vitest';
import { parseNodeFlags } from '../../node/src/cli/node-flags.js';
import { resolveSpec } from '../../operator/src/api/types.js';
import { DEFAULT_STATEFULSET_OPTIONS, nodeArgs } from '../../operator/src/specs/index.js';
import { quantityBytes, storeBounds } from '../../operator/src/specs/store-bounds.js';
import { makeCluster } from './fixtures.js';

const MiB = 1024 * 1024;

describe('quantityBytes', () => {
  it.each([
    ['512Mi', 512 * MiB],
    ['1Gi', 1024 * MiB],
    ['1.5Gi', 1536 * MiB],
    ['500M', 500e6],
    ['2k', 2000],
    ['123', 123],
    [4096, 4096],
  ] as const)('%s is %i bytes', (q, bytes) => {
    expect(quantityBytes(q)).toBe(bytes);
  });

  it.each(['', 'lots', '1Zi', '-1Gi', '1e9', '100m', undefined])('%s is not read (null)', (q) => {
    expect(quantityBytes(q)).toBeNull();
  });
});

describe('storeBounds', () => {
  const limited = (memory: string, extra = {}) => resolveSpec({ image: 'x', resources: { limits: { memory } }, ...extra });

  it('derives a quarter of the memory limit for the live data and an eighth for the history', () => {
    expect(storeBounds(limited('512Mi'))).toEqual({ quotaBytes: 128 * MiB, historyRetainBytes: 64 * MiB });
  });

  it('keeps what the spec says', () => {
    expect(storeBounds(limited('512Mi', { quotaBytes: 300 * MiB, history: { retainBytes: 10 * MiB } }))).toEqual({ quotaBytes: 300 * MiB, historyRetainBytes: 10 * MiB });
    expect(storeBounds(limited('512Mi', { quotaBytes: 300 * MiB }))).toEqual({ quotaBytes: 300 * MiB, historyRetainBytes: 64 * MiB });
  });

  it('leaves the node defaults without a memory limit, or with one it cannot read', () => {
    expect(storeBounds(resolveSpec({ image: 'x' }))).toEqual({});
    expect(storeBounds(resolveSpec({ image: 'x', resources: { requests: { memory: '1Gi' } } }))).toEqual({});
    expect(storeBounds(limited('1e9'))).toEqual({});
  });

  it('never goes under the smallest quota the schema allows', () => {
    expect(storeBounds(limited('2Mi'))).toEqual({ quotaBytes: MiB, historyRetainBytes: 256 * 1024 });
  });

  it('reaches the node as flags it parses, the history bound next to the rest of spec.history', () => {
    const c = makeCluster({ resources: { limits: { memory: '1Gi' } }, history: { retainRevisions: 500 } });
    const args = nodeArgs(c, DEFAULT_STATEFULSET_OPTIONS).map((a) => a.replace(/\$\(\w+\)/g, 'demo-0'));
    expect(parseNodeFlags(args, {})).toMatchObject({ quotaBytes: 256 * MiB, historyRetainBytes: 128 * MiB, historyRetainRevisions: 500 });
    const plain = nodeArgs(makeCluster(), DEFAULT_STATEFULSET_OPTIONS);
    expect(plain.some((a) => a.startsWith('--quota-bytes') || a.startsWith('--history-retain-bytes'))).toBe(false);
  });
});
