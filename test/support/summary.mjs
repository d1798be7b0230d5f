// Prints vitest's totals as the one plain line CI reads: "N passed, N failed".
// Usage: node test/support/summary.mjs test-results/vitest.json
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  console.error(`summary: cannot read ${file}: ${err.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
// A suite that fails to load has no failed *tests*; count it so a broken file is never green.
// (numFailedTestSuites counts describe blocks as well as files, so it cannot be used for that.)
const failed = (report.numFailedTests ?? 0) + countFilesFailedWithoutFailedTests(report);
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
// CI shows only the end of the output: name each failure there, briefly, above the totals.
for (const line of failureLines(report)) console.log(line);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);

function failureLines(r) {
  const out = [];
  for (const file of r.testResults ?? []) {
    const name = String(file.name ?? '').replace(/^.*?\/test\//, 'test/');
    const failedTests = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    if (file.status === 'failed' && failedTests.length === 0) out.push(`FAILED ${name}: ${brief(file.message)}`);
    for (const a of failedTests) out.push(`FAILED ${name} > ${a.fullName ?? a.title}: ${brief((a.failureMessages ?? [])[0])}`);
  }
  return out;
}

function brief(message) {
  // eslint-disable-next-line no-control-regex
  const plain = String(message ?? '').replace(/\u001b\[[0-9;]*m/g, '').split('\n').filter((l) => l.trim() !== '' && !/^\s+at /.test(l));
  // The message, then the start of the diff (vitest abbreviates arrays in the message itself).
  return plain.slice(0, 10).join(' | ').slice(0, 1500);
}

function countFilesFailedWithoutFailedTests(r) {
  return (r.testResults ?? []).filter((s) => s.status === 'failed' && !(s.assertionResults ?? []).some((a) => a.status === 'failed')).length;
}
