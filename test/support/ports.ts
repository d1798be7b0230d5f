// Free TCP ports on 127.0.0.1 for tests that must name their ports up front (--initial-cluster).
import net from 'node:net';

export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = net.createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    servers.push(s);
    ports.push((s.address() as net.AddressInfo).port);
  }
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A URL on a port that was just free: connections to it are refused (the "unreachable node" of CLI tests). */
export async function refusedURL(): Promise<string> {
  const [port] = await freePorts(1);
  return `http://127.0.0.1:${port!}`;
}
