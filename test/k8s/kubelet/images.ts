// Image -> local command. There is no container runtime: an image name stands for a program built
// in this repository (dist/), and a container's `command` names one of the image's entry points
// the way it would be found on the image's PATH.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { V1Container } from '@kubernetes/client-node';

export const REPO_ROOT = resolve(import.meta.dirname, '../../..');

export interface ImageSpec {
  /** Executables on the image's PATH -> the argv that runs them here. */
  commands: Record<string, string[]>;
  /** What runs when the container has no `command` (the image's ENTRYPOINT). */
  entrypoint: string[];
}

const nodeScript = (rel: string) => [process.execPath, resolve(REPO_ROOT, rel)];

const CONFLUX_NODE_IMAGE: ImageSpec = {
  commands: {
    'conflux-node': nodeScript('dist/node/src/cli/conflux-node.js'),
    conflux: nodeScript('dist/node/src/cli/conflux.js'),
  },
  entrypoint: nodeScript('dist/node/src/cli/conflux-node.js'),
};

const CONFLUX_OPERATOR_IMAGE: ImageSpec = {
  commands: { 'conflux-operator': nodeScript('dist/operator/src/cli.js') },
  entrypoint: nodeScript('dist/operator/src/cli.js'),
};

/** Image repositories (without registry and tag) this kubelet can run. */
export const IMAGES: Record<string, ImageSpec> = {
  conflux: CONFLUX_NODE_IMAGE,
  'conflux-node': CONFLUX_NODE_IMAGE,
  'conflux-operator': CONFLUX_OPERATOR_IMAGE,
};

export class ImageError extends Error {
  readonly code = 'image_pull_backoff';
}

/** `registry.example:5000/team/conflux:0.1.0@sha256:...` -> `conflux`. */
export function imageRepository(image: string): string {
  const noDigest = image.split('@')[0]!;
  const last = noDigest.split('/').pop()!;
  return last.replace(/:[^:]*$/, '');
}

/**
 * Programs every image is assumed to have besides its own entry points (run from the host's PATH),
 * for `sh -c '... conflux-node ...'` style commands.
 */
export const BASE_COMMANDS = new Set(['sh', 'bash', 'cat', 'cp', 'mv', 'rm', 'ls', 'mkdir', 'test', 'true', 'false', 'sleep', 'echo', 'env', 'find', 'sort', 'head', 'tail', 'xargs', 'wc', 'date']);

/**
 * Writes one wrapper script per entry point of `image` into `dir` (`#!/bin/sh exec node ...`), so
 * the pod's PATH can start with `dir` and shell commands find `conflux-node` as in the image.
 */
export function writeImageBin(dir: string, image: string, images: Record<string, ImageSpec> = IMAGES): string | null {
  const spec = images[imageRepository(image)];
  if (!spec) return null;
  mkdirSync(dir, { recursive: true });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  for (const [name, argv] of Object.entries(spec.commands)) {
    writeFileSync(join(dir, name), `#!/bin/sh\nexec ${argv.map(q).join(' ')} "$@"\n`, { mode: 0o755 });
  }
  return dir;
}

/** The argv of a container (command and args already $(VAR)-expanded by the caller). */
export function containerArgv(container: Pick<V1Container, 'image' | 'command' | 'args'>, images: Record<string, ImageSpec> = IMAGES): string[] {
  const repo = imageRepository(container.image ?? '');
  const image = images[repo];
  if (!image) throw new ImageError(`image ${container.image ?? '(none)'}: no local program for repository ${repo} (known: ${Object.keys(images).join(', ')})`);
  const args = container.args ?? [];
  const command = container.command ?? [];
  if (command.length === 0) return [...image.entrypoint, ...args];
  const [exe, ...rest] = command as [string, ...string[]];
  const base = exe.split('/').pop()!;
  const mapped = image.commands[base];
  if (!mapped && BASE_COMMANDS.has(base) && (exe === base || /^\/(usr\/)?bin\//.test(exe))) return [exe, ...rest, ...args];
  if (!mapped) throw new ImageError(`image ${container.image}: no entry point ${exe} (known: ${Object.keys(image.commands).join(', ')})`);
  return [...mapped, ...rest, ...args];
}
