// Argument parsing of the `conflux` client (design section 4): pure, so every accepted and refused
// command line is a unit test. `parseArgs` never throws and never exits; the entry point decides.

export type OutputFormat = 'text' | 'json';

export interface GlobalOptions {
  endpoints: string[];
  output: OutputFormat;
  /** Sent as `Authorization: Bearer`; never printed. */
  token: string | undefined;
  timeoutMs: number;
}

export type CliCommand =
  | { name: 'get'; key: string; revision?: number; serializable: boolean }
  | {
      name: 'put';
      key: string;
      /** undefined or '-': stdin. */
      file?: string;
      contentType?: string;
      ifMatch?: number;
      createOnly: boolean;
    }
  | { name: 'del'; key: string; ifMatch?: number }
  | { name: 'ls'; prefix: string; keysOnly: boolean; pageSize?: number; serializable: boolean }
  | { name: 'history'; key: string }
  | { name: 'rollback'; key: string; toRevision: number; ifMatch?: number }
  | { name: 'watch'; prefix: string; fromRevision?: number }
  | { name: 'status' }
  | { name: 'members-list' }
  | { name: 'members-add'; id: string; peerURL: string; clientURL: string; incarnation?: string }
  | { name: 'members-promote'; id: string }
  | { name: 'members-remove'; id: string }
  | { name: 'leader-transfer'; to?: string }
  | { name: 'snapshot-save'; file: string; serializable: boolean }
  | { name: 'snapshot-status'; file: string }
  | { name: 'help' }
  | { name: 'version' };

export type ParseResult =
  | { ok: true; global: GlobalOptions; command: CliCommand }
  | { ok: false; error: string };

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:7070';
export const DEFAULT_TIMEOUT_MS = 10_000;

export const USAGE = `Usage: conflux [global options] <command> [arguments]

Commands:
  get KEY [--revision N] [--serializable]      print a value (raw bytes in text output)
  put KEY [FILE|-] [--content-type T] [--if-match REV] [--create-only]
                                               write a value from FILE or stdin
  del KEY [--if-match REV]                     delete a key
  ls [PREFIX] [--keys-only] [--page-size N] [--serializable]
                                               list keys (pages through everything)
  history KEY                                  retained versions of a key, newest first
  rollback KEY REV [--if-match REV]            write the value KEY had at revision REV
  watch [PREFIX] [--from-revision N]           print changes as they happen (Ctrl-C to stop)
  status                                       the node's Raft status
  members [list]                               the cluster's members
  members add ID --peer-url URL --client-url URL [--incarnation I]
  members promote ID
  members remove ID
  leader transfer [--to ID]
  snapshot save FILE [--serializable]          stream a consistent backup of the store to FILE
                                               (FILE.part, fsync, rename: FILE is complete or absent)
  snapshot status FILE                         check a backup: revision, keys, size, checksum

Global options:
  --endpoints URL[,URL...]   nodes to talk to (env CONFLUX_ENDPOINTS; default ${DEFAULT_ENDPOINT})
  --output text|json         output format (env CONFLUX_OUTPUT; default text)
  --token TOKEN              bearer token (env CONFLUX_TOKEN)
  --timeout-ms N             per-request timeout (default ${DEFAULT_TIMEOUT_MS})
  -h, --help                 this help;  --version  the version

Exit codes: 0 ok, 1 the server refused (its code and message are printed), 2 usage error,
3 no endpoint could be reached (or a write's outcome is unknown after a lost connection).
`;

type FlagKind = 'string' | 'boolean';
type FlagSpec = Record<string, FlagKind>;

const GLOBAL_FLAGS: FlagSpec = {
  endpoints: 'string',
  output: 'string',
  token: 'string',
  'timeout-ms': 'string',
  help: 'boolean',
  version: 'boolean',
};

const COMMAND_FLAGS: Record<string, FlagSpec> = {
  get: { revision: 'string', serializable: 'boolean' },
  put: { 'content-type': 'string', 'if-match': 'string', 'create-only': 'boolean' },
  del: { 'if-match': 'string' },
  ls: { 'keys-only': 'boolean', 'page-size': 'string', serializable: 'boolean' },
  history: {},
  rollback: { 'if-match': 'string' },
  watch: { 'from-revision': 'string' },
  status: {},
  members: { 'peer-url': 'string', 'client-url': 'string', incarnation: 'string' },
  leader: { to: 'string' },
  snapshot: { serializable: 'boolean' },
};

class UsageError extends Error {}

interface Scanned {
  positionals: string[];
  flags: Map<string, string | true>;
}

/** Splits argv into positionals and `--flag value` / `--flag=value` / boolean flags. */
function scan(argv: readonly string[], spec: FlagSpec): Scanned {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      flags.set('help', true);
      continue;
    }
    if (arg === '-o') {
      const value = argv[++i];
      if (value === undefined) throw new UsageError('-o needs a value');
      flags.set('output', value);
      continue;
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = spec[name];
    if (kind === undefined) throw new UsageError(`unknown option --${name}`);
    if (flags.has(name)) throw new UsageError(`--${name} given twice`);
    if (kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    flags.set(name, value);
  }
  return { positionals, flags };
}

function str(flags: Map<string, string | true>, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function positiveInt(raw: string, what: string): number {
  const n = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${what} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** `5` or `"5"` (as printed in an ETag). */
function revisionArg(raw: string | undefined, what: string): number | undefined {
  if (raw === undefined) return undefined;
  return positiveInt(raw.replace(/^"(.*)"$/, '$1'), what);
}

function endpointList(raw: string): string[] {
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) throw new UsageError('--endpoints needs at least one URL');
  return list.map((e) => {
    let url: URL;
    try {
      url = new URL(e);
    } catch {
      throw new UsageError(`endpoint ${JSON.stringify(e)} is not a URL (expected e.g. ${DEFAULT_ENDPOINT})`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`endpoint ${e} must be http(s)`);
    return url.origin + url.pathname.replace(/\/+$/, '');
  });
}

/**
 * Key arguments are checked for what the URL layer would silently rewrite: `.` and `..`
 * segments are resolved by URL parsing, so `a/./b` would address `a/b`. The server validates the rest.
 */
function keyArg(raw: string | undefined, command: string): string {
  if (raw === undefined || raw === '') throw new UsageError(`${command} needs a KEY`);
  if (raw.split('/').some((s) => s === '.' || s === '..')) {
    throw new UsageError(`invalid key ${JSON.stringify(raw)}: '.' and '..' segments are not allowed`);
  }
  return raw;
}

function expectPositionals(p: string[], max: number, command: string): void {
  if (p.length > max) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(p[max])}`);
}

export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParseResult {
  try {
    return parse(argv, env);
  } catch (err) {
    if (err instanceof UsageError) return { ok: false, error: err.message };
    throw err;
  }
}

function parse(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParseResult {
  // The command is the first positional; its flags may appear anywhere, as may the global ones.
  const first = scan(argv, { ...GLOBAL_FLAGS, ...allCommandFlags() });
  const name = first.positionals[0];
  const spec = name !== undefined && name in COMMAND_FLAGS ? { ...GLOBAL_FLAGS, ...COMMAND_FLAGS[name] } : GLOBAL_FLAGS;
  const { positionals, flags } = scan(argv, spec);
  const global = globalOptions(flags, env);
  if (flags.get('version') === true) return { ok: true, global, command: { name: 'version' } };
  if (flags.get('help') === true || name === undefined || name === 'help') return { ok: true, global, command: { name: 'help' } };
  const args = positionals.slice(1);
  return { ok: true, global, command: commandOf(name, args, flags) };
}

function allCommandFlags(): FlagSpec {
  return Object.assign({}, ...Object.values(COMMAND_FLAGS)) as FlagSpec;
}

function globalOptions(flags: Map<string, string | true>, env: Readonly<Record<string, string | undefined>>): GlobalOptions {
  const endpoints = endpointList(str(flags, 'endpoints') ?? env.CONFLUX_ENDPOINTS ?? DEFAULT_ENDPOINT);
  const output = str(flags, 'output') ?? env.CONFLUX_OUTPUT ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output must be text or json, got ${JSON.stringify(output)}`);
  const token = str(flags, 'token') ?? (env.CONFLUX_TOKEN !== undefined && env.CONFLUX_TOKEN !== '' ? env.CONFLUX_TOKEN : undefined);
  const timeout = str(flags, 'timeout-ms');
  const timeoutMs = timeout === undefined ? DEFAULT_TIMEOUT_MS : positiveInt(timeout, '--timeout-ms');
  return { endpoints, output, token, timeoutMs };
}

function commandOf(name: string, p: string[], flags: Map<string, string | true>): CliCommand {
  switch (name) {
    case 'get': {
      expectPositionals(p, 1, name);
      const cmd: CliCommand = { name, key: keyArg(p[0], name), serializable: flags.get('serializable') === true };
      const revision = str(flags, 'revision');
      if (revision !== undefined) cmd.revision = positiveInt(revision, '--revision');
      return cmd;
    }
    case 'put': {
      expectPositionals(p, 2, name);
      const cmd: CliCommand = { name, key: keyArg(p[0], name), createOnly: flags.get('create-only') === true };
      if (p[1] !== undefined) cmd.file = p[1];
      const contentType = str(flags, 'content-type');
      if (contentType !== undefined) cmd.contentType = contentType;
      const ifMatch = revisionArg(str(flags, 'if-match'), '--if-match');
      if (ifMatch !== undefined) cmd.ifMatch = ifMatch;
      if (cmd.createOnly && cmd.ifMatch !== undefined) throw new UsageError('--create-only and --if-match exclude each other');
      return cmd;
    }
    case 'del': {
      expectPositionals(p, 1, name);
      const cmd: CliCommand = { name, key: keyArg(p[0], name) };
      const ifMatch = revisionArg(str(flags, 'if-match'), '--if-match');
      if (ifMatch !== undefined) cmd.ifMatch = ifMatch;
      return cmd;
    }
    case 'ls': {
      expectPositionals(p, 1, name);
      const cmd: CliCommand = {
        name,
        prefix: p[0] ?? '',
        keysOnly: flags.get('keys-only') === true,
        serializable: flags.get('serializable') === true,
      };
      const pageSize = str(flags, 'page-size');
      if (pageSize !== undefined) cmd.pageSize = positiveInt(pageSize, '--page-size');
      return cmd;
    }
    case 'history':
      expectPositionals(p, 1, name);
      return { name, key: keyArg(p[0], name) };
    case 'rollback': {
      expectPositionals(p, 2, name);
      const key = keyArg(p[0], name);
      if (p[1] === undefined) throw new UsageError('rollback needs KEY and REV');
      const cmd: CliCommand = { name, key, toRevision: positiveInt(p[1], 'REV') };
      const ifMatch = revisionArg(str(flags, 'if-match'), '--if-match');
      if (ifMatch !== undefined) cmd.ifMatch = ifMatch;
      return cmd;
    }
    case 'watch': {
      expectPositionals(p, 1, name);
      const cmd: CliCommand = { name, prefix: p[0] ?? '' };
      const from = str(flags, 'from-revision');
      if (from !== undefined) cmd.fromRevision = positiveInt(from, '--from-revision');
      return cmd;
    }
    case 'status':
      expectPositionals(p, 0, name);
      return { name };
    case 'members':
      return membersCommand(p, flags);
    case 'snapshot':
      return snapshotCommand(p, flags);
    case 'leader': {
      if (p[0] !== 'transfer') throw new UsageError('usage: conflux leader transfer [--to ID]');
      expectPositionals(p, 1, 'leader transfer');
      const to = str(flags, 'to');
      return to === undefined ? { name: 'leader-transfer' } : { name: 'leader-transfer', to };
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(name)}; see conflux --help`);
  }
}

function snapshotCommand(p: string[], flags: Map<string, string | true>): CliCommand {
  const action = p[0];
  const usage = 'usage: conflux snapshot save FILE [--serializable] | conflux snapshot status FILE';
  if (action !== 'save' && action !== 'status') throw new UsageError(action === undefined ? usage : `unknown snapshot action ${JSON.stringify(action)} (save, status)`);
  expectPositionals(p, 2, `snapshot ${action}`);
  const file = p[1];
  if (file === undefined || file === '' || file === '-') throw new UsageError(`snapshot ${action} needs a FILE (not stdout: the file is written whole or not at all)`);
  if (action === 'status') {
    if (flags.has('serializable')) throw new UsageError('--serializable is only for snapshot save');
    return { name: 'snapshot-status', file };
  }
  return { name: 'snapshot-save', file, serializable: flags.get('serializable') === true };
}

function membersCommand(p: string[], flags: Map<string, string | true>): CliCommand {
  const action = p[0] ?? 'list';
  const memberFlags = ['peer-url', 'client-url', 'incarnation'].filter((f) => flags.has(f));
  if (action !== 'add' && memberFlags.length > 0) throw new UsageError(`--${memberFlags[0]} is only for members add`);
  switch (action) {
    case 'list':
      expectPositionals(p, 1, 'members list');
      return { name: 'members-list' };
    case 'add': {
      expectPositionals(p, 2, 'members add');
      const id = p[1];
      const peerURL = str(flags, 'peer-url');
      const clientURL = str(flags, 'client-url');
      if (id === undefined || peerURL === undefined || clientURL === undefined) {
        throw new UsageError('usage: conflux members add ID --peer-url URL --client-url URL [--incarnation I]');
      }
      const incarnation = str(flags, 'incarnation');
      return incarnation === undefined
        ? { name: 'members-add', id, peerURL, clientURL }
        : { name: 'members-add', id, peerURL, clientURL, incarnation };
    }
    case 'promote':
    case 'remove': {
      expectPositionals(p, 2, `members ${action}`);
      const id = p[1];
      if (id === undefined) throw new UsageError(`usage: conflux members ${action} ID`);
      return action === 'promote' ? { name: 'members-promote', id } : { name: 'members-remove', id };
    }
    default:
      throw new UsageError(`unknown members action ${JSON.stringify(action)} (list, add, promote, remove)`);
  }
}
