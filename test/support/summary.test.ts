// The CI summary script: its last line is what CI reads, and the lines above it are all a reader of
// a failed run sees of the failures (CI shows only the end of the output).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'conflux-summary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function summarize(report: unknown): { lines: string[]; code: number } {
  const file = join(dir, `r${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof report === 'string' ? report : JSON.stringify(report));
  try {
    return { lines: execFileSync(process.execPath, ['test/support/summary.mjs', file], { encoding: 'utf8' }).trimEnd().split('\n'), code: 0 };
  } catch (err) {
    const e = err as { stdout: string; status: number };
    return { lines: e.stdout.trimEnd().split('\n'), code: e.status };
  }
}

describe('test/support/summary.mjs', () => {
  it('prints only the totals line when everything passed', () => {
    const { lines } = summarize({ numPassedTests: 12, numFailedTests: 0, testResults: [{ name: '/r/test/a.test.ts', status: 'passed', assertionResults: [] }] });
    expect(lines).toEqual(['12 passed, 0 failed']);
  });

  it('names each failed test and the start of its message above the totals, without colours or stack frames', () => {
    const message = '\u001b[31mAssertionError: data changed (FUZZ_SEED=7)\u001b[39m\n\n- Expected\n+ Received\n    at Object.<anonymous> (/r/test/fuzz/f.test.ts:140:5)';
    const { lines } = summarize({
      numPassedTests: 5,
      numFailedTests: 1,
      testResults: [
        { name: '/r/test/fuzz/f.test.ts', status: 'failed', assertionResults: [{ status: 'passed', fullName: 'ok' }, { status: 'failed', fullName: 'fuzz > changes nothing', failureMessages: [message] }] },
        { name: '/r/test/broken.test.ts', status: 'failed', message: 'SyntaxError: Unexpected token\n    at parse', assertionResults: [] },
      ],
    });
    expect(lines).toEqual([
      'FAILED test/fuzz/f.test.ts > fuzz > changes nothing: AssertionError: data changed (FUZZ_SEED=7) | - Expected | + Received',
      'FAILED test/broken.test.ts: SyntaxError: Unexpected token',
      // A file that failed to load counts as a failure, so a broken file is never green.
      '5 passed, 2 failed',
    ]);
  });

  it('reports one failure, and fails, when the report cannot be read', () => {
    const { lines, code } = summarize('{not json');
    expect(code).toBe(1);
    expect(lines).toEqual(['0 passed, 1 failed']);
  });
});
