// The `--name value` / `--name=value` flag reader that conflux-node and conflux-operator share:
// every flag may also come from the environment (PREFIX_NAME, e.g. CONFLUX_DATA_DIR), and a flag
// on the command line wins over its variable.

export class UsageError extends Error {
  readonly code = 'usage';
}

export interface FlagSpec {
  name: string;
  kind: 'string' | 'int' | 'bool';
  help: string;
}

/** What was given, by flag name: a string, or true/false for a bool flag. */
export type FlagValues = Map<string, string | boolean>;

/** `data-dir` -> `CONFLUX_DATA_DIR` with the prefix `CONFLUX`. */
function flagEnvName(prefix: string, flag: string): string {
  return `${prefix}_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Reads `argv` over `env`; throws UsageError for an unknown flag, a stray argument or a missing value. */
export function readFlags(specs: readonly FlagSpec[], argv: readonly string[], env: NodeJS.ProcessEnv, envPrefix: string): FlagValues {
  const values: FlagValues = new Map();
  for (const spec of specs) {
    const v = env[flagEnvName(envPrefix, spec.name)];
    if (v !== undefined && v !== '') values.set(spec.name, spec.kind === 'bool' ? v === 'true' || v === '1' : v);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${arg}`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const spec = specs.find((s) => s.name === name);
    if (!spec) throw new UsageError(`unknown flag --${name}`);
    if (spec.kind === 'bool') {
      values.set(name, inline === undefined ? true : inline === 'true');
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    values.set(name, value);
  }
  return values;
}

/** A string flag's value, if given. */
export function flagString(values: FlagValues, name: string): string | undefined {
  const v = values.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** A positive integer flag's value, if given; anything else is a UsageError. */
export function flagPositiveInt(values: FlagValues, name: string): number | undefined {
  const v = flagString(values, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) <= 0) throw new UsageError(`--${name} must be a positive integer, got ${v}`);
  return Number(v);
}

/** One help line per flag, the help texts aligned two spaces after the longest flag. */
export function flagHelpLines(specs: readonly FlagSpec[]): string[] {
  const heads = specs.map((f) => `  --${f.name}${f.kind === 'bool' ? '' : ' VALUE'}`);
  const width = Math.max(0, ...heads.map((h) => h.length)) + 2;
  return heads.map((h, i) => h.padEnd(width) + specs[i]!.help);
}
