// Compiles the `conflux` CLI (with the repository's build settings) into a temporary directory, so
// tests run the same JavaScript `make build` produces without depending on a fresh `dist/` or on
// the rest of the tree compiling while other work is in progress.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface BuiltCli {
  /** Path of the compiled conflux.js. */
  script: string;
  cleanup(): Promise<void>;
}

export async function buildCli(): Promise<BuiltCli> {
  const dir = await mkdtemp(path.join(tmpdir(), 'conflux-cli-'));
  const out = path.join(dir, 'out');
  const tsconfig = path.join(dir, 'tsconfig.json');
  await writeFile(
    tsconfig,
    JSON.stringify({
      extends: path.join(repo, 'tsconfig.build.json'),
      compilerOptions: {
        outDir: out,
        // node/src, not node/src/cli: the CLI shares modules with the node (the backup format).
        rootDir: path.join(repo, 'node/src'),
        sourceMap: false,
        typeRoots: [path.join(repo, 'node_modules/@types')],
      },
      include: [],
      files: [path.join(repo, 'node/src/cli/conflux.ts')],
    }),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    await run(process.execPath, [tsc, '-p', tsconfig], { cwd: repo });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`compiling the CLI failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  // ESM output outside the package: say so, as package.json does for dist/.
  await writeFile(path.join(out, 'package.json'), '{"type":"module"}\n');
  return { script: path.join(out, 'cli', 'conflux.js'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}
