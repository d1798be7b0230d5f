// Checks a cron schedule the way the CronJob controller reads it (robfig/cron's standard parser:
// 5 fields or a macro), so a bad schedule is reported on the ConfluxCluster as InvalidSpec instead
// of as a CronJob the API server rejects. The CRD pattern only checks the shape.

const MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

interface Field {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** `?` means "any" in day-of-month and day-of-week. */
  question?: boolean;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] as const;
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;

const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31, question: true },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 6, names: DAYS, question: true },
];

function value(text: string, f: Field): number | null {
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    return n >= f.min && n <= f.max ? n : null;
  }
  const i = f.names?.indexOf(text.toUpperCase() as never) ?? -1;
  if (i < 0) return null;
  return f.names === MONTHS ? i + 1 : i;
}

function fieldProblem(text: string, f: Field): string | null {
  for (const item of text.split(',')) {
    const [range, step, ...rest] = item.split('/');
    if (rest.length > 0 || range === undefined || range === '') return `${f.name} ${JSON.stringify(text)} is not a list of ranges`;
    if (step !== undefined && !(/^[0-9]+$/.test(step) && Number(step) >= 1 && Number(step) <= f.max - f.min + 1)) {
      return `${f.name} step ${JSON.stringify(step)} is out of range`;
    }
    if (range === '*' || (range === '?' && f.question === true)) continue;
    const bounds = range.split('-');
    if (bounds.length > 2) return `${f.name} ${JSON.stringify(range)} is not a range`;
    const nums = bounds.map((b) => value(b, f));
    if (nums.some((n) => n === null)) return `${f.name} ${JSON.stringify(range)} is not within ${f.min}-${f.max}`;
    if (nums.length === 2 && nums[0]! > nums[1]!) return `${f.name} range ${JSON.stringify(range)} runs backwards`;
  }
  return null;
}

/** Why `schedule` is not a valid cron schedule, or null when it is. */
export function cronProblem(schedule: string): string | null {
  const s = schedule.trim();
  if (s.startsWith('@')) return MACROS.has(s) ? null : `unknown macro ${JSON.stringify(s)}`;
  const parts = s.split(/\s+/).filter((p) => p !== '');
  if (parts.length !== FIELDS.length) return `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`;
  for (let i = 0; i < FIELDS.length; i++) {
    const p = fieldProblem(parts[i]!, FIELDS[i]!);
    if (p !== null) return p;
  }
  return null;
}
