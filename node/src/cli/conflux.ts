#!/usr/bin/env node
// `conflux`: the command-line client (design section 4). Parsing is in args.ts, HTTP in client.ts;
// this file turns results into output and errors into the documented exit codes:
// 0 ok, 1 the server refused, 2 usage error, 3 no endpoint reachable (or a write's fate unknown).
import { readFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE, type CliCommand, type GlobalOptions } from './args.js';
import {
  ConfluxClient,
  ConfluxHttpError,
  decodeWireValue,
  OutcomeUnknownError,
  UnreachableError,
  type MembersView,
  type WatchEvent,
  type WireValue,
} from './client.js';
import { snapshotSave, snapshotStatus } from './snapshot-cmd.js';

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;

const VERSION = '0.1.0';

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: Readonly<Record<string, string | undefined>>;
  /** Aborts long-running commands (watch); the entry point wires it to SIGINT/SIGTERM. */
  signal?: AbortSignal;
}

class UsageFailure extends Error {}

export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseArgs(argv, io.env);
  if (!parsed.ok) {
    io.stderr.write(`conflux: ${parsed.error}\n(see conflux --help)\n`);
    return EXIT_USAGE;
  }
  const { global, command } = parsed;
  if (command.name === 'help') {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (command.name === 'version') {
    io.stdout.write(`conflux ${VERSION}\n`);
    return EXIT_OK;
  }
  const client = new ConfluxClient({ endpoints: global.endpoints, token: global.token, timeoutMs: global.timeoutMs });
  try {
    return await execute(client, global, command, io);
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIO): number {
  if (err instanceof ConfluxHttpError) {
    const extra = Object.entries(err.details)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    io.stderr.write(`conflux: ${err.code}: ${err.message}${extra === '' ? '' : ` (${extra})`}\n`);
    return EXIT_REFUSED;
  }
  if (err instanceof UsageFailure) {
    io.stderr.write(`conflux: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof UnreachableError || err instanceof OutcomeUnknownError) {
    io.stderr.write(`conflux: ${err.message}\n`);
    return EXIT_UNREACHABLE;
  }
  io.stderr.write(`conflux: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT_REFUSED;
}

async function execute(client: ConfluxClient, global: GlobalOptions, command: CliCommand, io: CliIO): Promise<number> {
  const json = global.output === 'json';
  const out = (text: string): void => void io.stdout.write(text);
  const printJson = (value: unknown): void => out(`${JSON.stringify(value, null, 2)}\n`);
  switch (command.name) {
    case 'get': {
      const kv = await client.get(command.key, {
        ...(command.revision === undefined ? {} : { revision: command.revision }),
        serializable: command.serializable,
      });
      if (json) {
        printJson({
          key: kv.key,
          ...wireValue(kv.value),
          contentType: kv.contentType,
          modRevision: kv.modRevision,
          createRevision: kv.createRevision,
          version: kv.version,
          revision: kv.revision,
        });
      } else {
        io.stdout.write(kv.value);
      }
      return EXIT_OK;
    }
    case 'put': {
      const value = await readValue(command.file, io);
      const r = await client.put(command.key, value, {
        ...(command.contentType === undefined ? {} : { contentType: command.contentType }),
        ...(command.ifMatch === undefined ? {} : { ifMatch: command.ifMatch }),
        createOnly: command.createOnly,
      });
      if (json) printJson(r);
      else out(`${r.created ? 'created' : 'updated'} ${r.key} revision=${r.modRevision} version=${r.version}\n`);
      return EXIT_OK;
    }
    case 'del': {
      const r = await client.delete(command.key, command.ifMatch === undefined ? {} : { ifMatch: command.ifMatch });
      if (json) printJson(r);
      else out(`deleted ${r.key} revision=${r.revision}\n`);
      return EXIT_OK;
    }
    case 'ls': {
      const items = client.listAll({
        prefix: command.prefix,
        keysOnly: command.keysOnly,
        serializable: command.serializable,
        ...(command.pageSize === undefined ? {} : { pageSize: command.pageSize }),
      });
      if (json) {
        const all = [];
        for await (const item of items) all.push(item);
        printJson({ items: all });
      } else {
        // Text streams page by page: a listing of a million keys never sits in memory.
        for await (const item of items) {
          if (command.keysOnly || item.value === undefined) out(`${item.key}\n`);
          else out(`${item.key}\t${summarize(item as WireValue)}\n`);
        }
      }
      return EXIT_OK;
    }
    case 'history': {
      const h = await client.history(command.key);
      if (json) printJson(h);
      else {
        for (const item of h.items) {
          out(
            item.deleted
              ? `revision=${item.modRevision} deleted\n`
              : `revision=${item.modRevision} version=${item.version} ${item.contentType}\t${summarize(item)}\n`,
          );
        }
      }
      return EXIT_OK;
    }
    case 'rollback': {
      const r = await client.rollback(command.key, command.toRevision, command.ifMatch === undefined ? {} : { ifMatch: command.ifMatch });
      if (json) printJson(r);
      else out(`rolled back ${r.key} to revision ${command.toRevision}: revision=${r.modRevision} version=${r.version}\n`);
      return EXIT_OK;
    }
    case 'watch':
      return watch(client, command, json, io);
    case 'status': {
      const s = await client.status();
      if (json) printJson(s);
      else for (const [k, v] of Object.entries(s)) out(`${k}: ${v === null ? '-' : String(v)}\n`);
      return EXIT_OK;
    }
    case 'members-list':
      printMembers(await client.members(), json, out);
      return EXIT_OK;
    case 'members-add': {
      const { name: _name, ...member } = command;
      const view = await client.addMember(member);
      if (json) printJson(view);
      else out(`added ${command.id} as a learner\n`);
      return EXIT_OK;
    }
    case 'members-promote': {
      const view = await client.promoteMember(command.id);
      if (json) printJson(view);
      else out(`promoted ${command.id} to voter\n`);
      return EXIT_OK;
    }
    case 'members-remove': {
      const view = await client.removeMember(command.id);
      if (json) printJson(view);
      else out(`removed ${command.id}\n`);
      return EXIT_OK;
    }
    case 'leader-transfer': {
      const r = await client.transferLeader(command.to);
      if (json) printJson(r);
      else out(`leader is now ${r.leaderId}\n`);
      return EXIT_OK;
    }
    case 'snapshot-save':
      return snapshotSave(client, command, { json, timeoutMs: global.timeoutMs, ...(io.signal === undefined ? {} : { signal: io.signal }) }, io);
    case 'snapshot-status':
      return snapshotStatus(command, { json }, io);
    case 'help':
    case 'version':
      throw new Error(`${command.name} is handled before execute`);
  }
}

async function watch(
  client: ConfluxClient,
  command: Extract<CliCommand, { name: 'watch' }>,
  json: boolean,
  io: CliIO,
): Promise<number> {
  const end = await client.watch({
    prefix: command.prefix,
    ...(command.fromRevision === undefined ? {} : { fromRevision: command.fromRevision }),
    ...(io.signal === undefined ? {} : { signal: io.signal }),
    onEvent: (e: WatchEvent) => {
      if (json) {
        io.stdout.write(
          `${JSON.stringify({
            type: e.type,
            revision: e.revision,
            key: e.key,
            createRevision: e.createRevision,
            version: e.version,
            contentType: e.contentType,
            ...wireValue(e.value),
          })}\n`,
        );
      } else if (e.type === 'delete') {
        io.stdout.write(`DELETE ${e.key} revision=${e.revision}\n`);
      } else {
        io.stdout.write(`PUT ${e.key} revision=${e.revision} version=${e.version}\t${summarize(wireValue(e.value))}\n`);
      }
    },
    onNotice: (message) => void io.stderr.write(`conflux: ${message}\n`),
  });
  if (end.kind === 'compacted') {
    io.stderr.write(`conflux: compacted: history before revision ${end.oldestRevision} is gone; watch again with --from-revision ${end.oldestRevision}\n`);
    return EXIT_REFUSED;
  }
  return EXIT_OK;
}

function printMembers(view: MembersView, json: boolean, out: (s: string) => void): void {
  if (json) {
    out(`${JSON.stringify(view, null, 2)}\n`);
    return;
  }
  out(`leader: ${view.leaderId ?? '(none)'}\n`);
  const rows = [['ID', 'ROLE', 'HEALTHY', 'MATCH', 'LAG', 'PEER URL', 'CLIENT URL']];
  for (const m of view.members) {
    rows.push([m.id, m.role, m.healthy ? 'yes' : 'no', String(m.matchIndex), String(m.lag), m.peerURL, m.clientURL]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const r of rows) out(`${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`);
}

function wireValue(bytes: Uint8Array): WireValue {
  try {
    return { value: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    return { value: Buffer.from(bytes).toString('base64'), encoding: 'base64' };
  }
}

/** One line for a value in text output: short text as is (escaped if multi-line), else its size. */
function summarize(w: WireValue): string {
  if (w.encoding === 'base64') return `<${decodeWireValue(w).length} bytes, binary>`;
  if (w.value.length > 200) return `<${Buffer.byteLength(w.value)} bytes>`;
  return /[\n\r\t]/.test(w.value) ? JSON.stringify(w.value) : w.value;
}

async function readValue(file: string | undefined, io: CliIO): Promise<Uint8Array> {
  if (file !== undefined && file !== '-') {
    try {
      return await readFile(file);
    } catch (err) {
      throw new UsageFailure(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  if (io.stdin.isTTY === true) throw new UsageFailure('put needs a FILE argument or the value on stdin (e.g. conflux put KEY < file)');
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // npx and npm link run us through a symlink in node_modules/.bin.
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    signal: controller.signal,
  }).then(
    (code) => {
      process.exitCode = code;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
    (err: unknown) => {
      process.stderr.write(`conflux: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = EXIT_REFUSED;
    },
  );
}
