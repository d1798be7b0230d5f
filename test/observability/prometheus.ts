// A real Prometheus (Debian's package, test/prometheus/ensure-deps.sh) for tests: started on a free
// 127.0.0.1 port with its own temporary storage, file-based target lists, and stopped by PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/process-cluster.js';

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

export interface ScrapeJob {
  name: string;
  groups: TargetGroup[];
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

export class PrometheusError extends Error {
  readonly code = 'prometheus_error';
}

export class TestPrometheus {
  private proc: ChildProcess | null = null;
  url = '';
  readonly logFile: string;

  constructor(
    private readonly dir: string,
    private readonly jobs: ScrapeJob[],
    private readonly ruleFiles: string[] = [],
    private readonly intervalSeconds = 1,
  ) {
    this.logFile = join(dir, 'prometheus.log');
  }

  /** Writes the config and target files, starts Prometheus and waits until it is ready. */
  async start(): Promise<void> {
    mkdirSync(join(this.dir, 'data'), { recursive: true });
    for (const job of this.jobs) this.writeTargets(job.name, job.groups);
    const scrapeConfigs = this.jobs
      .map((j) => `  - job_name: ${JSON.stringify(j.name)}\n    file_sd_configs:\n      - files: [${JSON.stringify(this.targetsFile(j.name))}]\n        refresh_interval: 1s`)
      .join('\n');
    const rules = this.ruleFiles.length === 0 ? '' : `rule_files:\n${this.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`).join('\n')}\n`;
    const config = join(this.dir, 'prometheus.yml');
    writeFileSync(
      config,
      `global:\n  scrape_interval: ${this.intervalSeconds}s\n  scrape_timeout: ${this.intervalSeconds}s\n  evaluation_interval: ${this.intervalSeconds}s\n${rules}scrape_configs:\n${scrapeConfigs}\n`,
    );
    const check = spawnSync('promtool', ['check', 'config', config], { encoding: 'utf8' });
    if (check.status !== 0) throw new PrometheusError(`promtool check config: ${check.stdout}${check.stderr}`);
    const [port] = await freePorts(1);
    this.url = `http://127.0.0.1:${port}`;
    const out = createWriteStream(this.logFile, { flags: 'a' });
    this.proc = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc.stdout?.pipe(out);
    this.proc.stderr?.pipe(out);
    const proc = this.proc;
    await waitFor(
      'prometheus to be ready',
      async () => {
        if (proc.exitCode !== null) throw new PrometheusError(`prometheus exited with ${proc.exitCode}: ${readFileSync(this.logFile, 'utf8').slice(-2000)}`);
        const r = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
        return r?.ok ?? false;
      },
      60_000,
      200,
    );
  }

  targetsFile(job: string): string {
    return join(this.dir, `targets-${job}.json`);
  }

  /** Rewrites a job's target list (Prometheus re-reads it within a second). */
  writeTargets(job: string, groups: TargetGroup[]): void {
    writeFileSync(`${this.targetsFile(job)}.tmp`, JSON.stringify(groups));
    spawnSync('mv', [`${this.targetsFile(job)}.tmp`, this.targetsFile(job)]);
  }

  private async api<T>(path: string, params: Record<string, string>): Promise<T> {
    const r = await fetch(`${this.url}/api/v1/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await r.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new PrometheusError(`${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
    return body.data;
  }

  /** An instant query: the vector's samples (a scalar comes back as one sample without labels). */
  async query(expr: string, time?: number): Promise<PromSample[]> {
    const data = await this.api<{ resultType: string; result: unknown }>('query', { query: expr, ...(time !== undefined ? { time: String(time) } : {}) });
    if (data.resultType === 'vector') return data.result as PromSample[];
    if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
    throw new PrometheusError(`${expr}: unexpected result type ${data.resultType}`);
  }

  async queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<PromSeries[]> {
    const data = await this.api<{ result: PromSeries[] }>('query_range', { query: expr, start: String(start), end: String(end), step: String(stepSeconds) });
    return data.result;
  }

  async targets(): Promise<{ labels: Record<string, string>; health: string; lastError: string }[]> {
    const r = await fetch(`${this.url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(10_000) });
    return ((await r.json()) as { data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] } }).data.activeTargets;
  }

  async rules(): Promise<{ name: string; health: string; lastError?: string; state?: string; type: string }[]> {
    const r = await fetch(`${this.url}/api/v1/rules`, { signal: AbortSignal.timeout(10_000) });
    const body = (await r.json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string; state?: string; type: string }[] }[] } };
    return body.data.groups.flatMap((g) => g.rules);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** promtool check metrics on an exposition text: its exit status and findings. */
export function promtoolCheckMetrics(text: string): { status: number | null; findings: string[] } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new PrometheusError(`promtool: ${r.error.message} (run "make test-deps")`);
  const findings = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
  return { status: r.status, findings };
}
