// Probe execution (httpGet on the pod IP, tcpSocket, exec through a callback) and the counting of
// consecutive results against success/failure thresholds, as the kubelet's prober does.
import { connect } from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';

export type ProbeResult = 'success' | 'failure';

/** A named or numeric port of the container. */
export function resolvePort(port: number | string | undefined, container: V1Container): number {
  if (typeof port === 'number') return port;
  if (port === undefined) throw new Error('probe without a port');
  if (/^\d+$/.test(port)) return Number(port);
  const found = container.ports?.find((p) => p.name === port);
  if (!found) throw new Error(`container ${container.name} has no port named ${port}`);
  return found.containerPort;
}

export type ExecProbe = (command: string[], timeoutMs: number) => Promise<boolean>;

export async function runProbe(probe: V1Probe, container: V1Container, podIP: string, exec: ExecProbe): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.httpGet) {
      const g = probe.httpGet;
      const host = g.host ?? podIP;
      const scheme = (g.scheme ?? 'HTTP').toLowerCase();
      const path = g.path ?? '/';
      const headers = Object.fromEntries((g.httpHeaders ?? []).map((h) => [h.name, h.value]));
      const res = await fetch(`${scheme}://${host}:${resolvePort(g.port as number | string, container)}${path.startsWith('/') ? path : `/${path}`}`, {
        headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 400 ? 'success' : 'failure';
    }
    if (probe.tcpSocket) {
      const port = resolvePort(probe.tcpSocket.port as number | string, container);
      const host = probe.tcpSocket.host ?? podIP;
      return await new Promise<ProbeResult>((resolve) => {
        const s = connect({ host, port });
        const done = (r: ProbeResult) => {
          s.destroy();
          resolve(r);
        };
        s.setTimeout(timeoutMs, () => done('failure'));
        s.once('connect', () => done('success'));
        s.once('error', () => done('failure'));
      });
    }
    if (probe.exec) return (await exec(probe.exec.command ?? [], timeoutMs)) ? 'success' : 'failure';
    if (probe.grpc) return 'failure';
  } catch {
    return 'failure';
  }
  return 'failure';
}

/** Consecutive results -> the probe's verdict (null until a threshold is first reached). */
export class ProbeState {
  private successes = 0;
  private failures = 0;
  verdict: ProbeResult | null = null;

  constructor(private readonly probe: V1Probe) {}

  record(r: ProbeResult): ProbeResult | null {
    if (r === 'success') {
      this.successes++;
      this.failures = 0;
      if (this.successes >= (this.probe.successThreshold ?? 1)) this.verdict = 'success';
    } else {
      this.failures++;
      this.successes = 0;
      if (this.failures >= (this.probe.failureThreshold ?? 3)) this.verdict = 'failure';
    }
    return this.verdict;
  }

  reset(): void {
    this.successes = 0;
    this.failures = 0;
    this.verdict = null;
  }
}
