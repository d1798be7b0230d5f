// The operator as a local process (node dist/operator/src/cli.js) talking to the test control
// plane through a kubeconfig on 127.0.0.1; started and stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { freePorts } from '../../support/ports.js';

export const operatorBin = resolve(import.meta.dirname, '../../../dist/operator/src/cli.js');

export class OperatorProcess {
  readonly exited: Promise<number | null>;
  private constructor(
    private readonly proc: ChildProcess,
    readonly logFile: string,
    readonly metricsPort: number,
  ) {
    this.exited = new Promise((r) => proc.once('exit', (code, signal) => r(code ?? (signal ? null : 1))));
  }

  static async start(opts: { kubeconfigPath: string; logFile: string; extraArgs?: string[] }): Promise<OperatorProcess> {
    const [port] = await freePorts(1);
    const fd = openSync(opts.logFile, 'a');
    const args = [
      operatorBin,
      `--kubeconfig=${opts.kubeconfigPath}`,
      `--listen=127.0.0.1:${port}`,
      // The process kubelet's pods share the host network namespace: each node listens on its pod IP.
      '--listen-on-pod-ip',
      '--resync-ms=5000',
      '--log-format=text',
      '--log-level=debug',
      ...(opts.extraArgs ?? []),
    ];
    // No KUBERNETES_SERVICE_* in the environment: the kubeconfig is the only way to the API server.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KUBERNETES_')));
    const proc = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    return new OperatorProcess(proc, opts.logFile, port!);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGKILL: a crash at whatever point the operator is. */
  async kill(): Promise<void> {
    if (this.running) this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(t);
  }

  logs(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}
