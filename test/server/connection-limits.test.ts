// The ports' connection bounds: read from the open-files limit (or --max-connections), and
// enforced by the server, which closes what comes past them and counts it.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionLimits, limitConnections, openFilesLimit, RESERVED_FILES } from '../../node/src/server/connection-limits.js';
import type { Logger, LogMeta } from '../../node/src/server/logger.js';

const limitsText = (soft: string) =>
  ['Limit                     Soft Limit           Hard Limit           Units     ', 'Max processes             unlimited            unlimited            processes ', `Max open files            ${soft}                20000                files     `].join('\n');

describe('openFilesLimit', () => {
  it('reads the soft limit of /proc/self/limits', () => {
    expect(openFilesLimit(limitsText('1024'))).toBe(1024);
    expect(openFilesLimit(limitsText('unlimited'))).toBeNull();
    expect(openFilesLimit('Max processes 5')).toBeNull();
    // This process's own, on Linux.
    expect(openFilesLimit()).toBeGreaterThan(0);
  });
});

describe('connectionLimits', () => {
  it('leaves the reserve out and gives peers a tenth of the rest', () => {
    expect(connectionLimits(RESERVED_FILES + 10_000)).toEqual({ client: 9000, peer: 1000 });
  });

  it('keeps small floors on a tiny limit, and no bound when the limit is unknown', () => {
    expect(connectionLimits(600)).toEqual({ client: 64, peer: 32 });
    expect(connectionLimits(null)).toEqual({ client: null, peer: null });
  });

  it('takes --max-connections for the client port as given', () => {
    expect(connectionLimits(RESERVED_FILES + 10_000, 50)).toEqual({ client: 50, peer: 1000 });
    expect(connectionLimits(null, 50)).toEqual({ client: 50, peer: null });
  });
});

describe('limitConnections', () => {
  const servers: net.Server[] = [];
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  it('closes the connections past the bound at once, counts each, and logs once per interval', async () => {
    const server = net.createServer(() => undefined);
    servers.push(server);
    const lines: LogMeta[] = [];
    const logger = { warn: (_: string, meta?: LogMeta) => lines.push(meta ?? {}) } as unknown as Logger;
    let dropped = 0;
    limitConnections(server, 'client', 3, logger, () => dropped++, () => 0);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const closed: boolean[] = [];
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        new Promise<void>((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          sockets.push(s);
          closed[i] = false;
          s.on('close', () => {
            closed[i] = true;
          });
          s.on('error', () => undefined);
          s.on('connect', () => setTimeout(resolve, 200));
        }),
      ),
    );
    expect(closed.filter(Boolean).length).toBe(2);
    expect(dropped).toBe(2);
    // The clock stood still: one line for the first drop, none for the second.
    expect(lines).toEqual([{ port: 'client', limit: 3, refused: 1 }]);
  });

  it('sets no bound for null', () => {
    const server = net.createServer();
    limitConnections(server, 'peer', null, {} as Logger, () => undefined);
    expect(server.maxConnections).toBeUndefined();
  });
});
