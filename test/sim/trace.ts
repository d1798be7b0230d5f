// A run's story, kept cheaply: a bounded ring of lines for failure reports, or every line printed
// as it happens in a verbose single-seed run. Hot paths guard detail lines with `detailed`.

export class Trace {
  private ring: string[];
  private next = 0;
  private count = 0;
  readonly detailed: boolean;

  constructor(
    private readonly now: () => number,
    private readonly options: { verbose: boolean; capacity: number; sink?: (line: string) => void },
  ) {
    this.ring = new Array<string>(options.capacity);
    this.detailed = options.verbose;
  }

  log(who: string, text: string): void {
    const line = `${this.now().toFixed(2).padStart(9)}ms ${who.padEnd(4)} ${text}`;
    if (this.options.verbose) (this.options.sink ?? console.log)(line);
    this.ring[this.next] = line;
    this.next = (this.next + 1) % this.ring.length;
    this.count++;
  }

  /** The last `n` lines, oldest first. */
  tail(n: number): string[] {
    const available = Math.min(this.count, this.ring.length, n);
    const out: string[] = [];
    for (let i = available; i > 0; i--) {
      out.push(this.ring[(this.next - i + this.ring.length) % this.ring.length] as string);
    }
    return out;
  }
}
