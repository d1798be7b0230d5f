// Mount points on the host. A bind mount inside a pod's private mount namespace needs its target
// to exist, and mkdir is not namespaced: /var/lib/conflux or /etc/conflux/auth are created on the
// host (empty; the mounts stay private to the pods). They are removed when the last process
// kubelet of the machine stops: removing a directory that is a mount point in another namespace
// would detach a running pod's volume, so every kubelet registers itself in REGISTRY while it runs.
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const REGISTRY = '/tmp/process-kubelet-registry';
const STATE = join(REGISTRY, 'created');

export const alive = (pid: number) => {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

export class MountPoints {
  private readonly me: string;

  constructor(id: string) {
    mkdirSync(STATE, { recursive: true });
    this.me = join(REGISTRY, `${process.pid}-${id}`);
    writeFileSync(this.me, String(process.pid));
  }

  /** Makes `path` exist (a directory, or an empty file when `isFile`), recording what it created. */
  ensure(path: string, isFile: boolean): void {
    const dir = isFile ? dirname(path) : path;
    const missing: string[] = [];
    for (let d = dir; !existsSync(d); d = dirname(d)) missing.unshift(d);
    mkdirSync(dir, { recursive: true });
    if (isFile && !existsSync(path)) {
      writeFileSync(path, '');
      missing.push(path);
    }
    // One marker per created path, named by its encoded path: the last kubelet removes them.
    for (const m of missing) writeFileSync(join(STATE, encodeURIComponent(m)), '');
  }

  /** Unregisters; the last running kubelet removes the created mount points (only when empty). */
  release(): void {
    rmSync(this.me, { force: true });
    const others = readdirSync(REGISTRY).filter((f) => f !== 'created' && !f.startsWith('net-') && alive(Number(f.split('-')[0])));
    if (others.length > 0) return;
    const created = readdirSync(STATE).map((f) => decodeURIComponent(f)).sort((a, b) => b.length - a.length);
    for (const path of created) {
      try {
        rmdirSync(path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOTDIR') rmSync(path, { force: true });
        else if (code !== 'ENOENT') continue; // not empty: not ours to remove after all
      }
      rmSync(join(STATE, encodeURIComponent(path)), { force: true });
    }
    for (const d of [STATE, REGISTRY]) {
      try {
        rmdirSync(d);
      } catch {
        // another kubelet just registered, or a mount point could not be removed
      }
    }
  }
}
