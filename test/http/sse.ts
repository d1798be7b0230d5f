// A test-side SSE reader, written independently of the CLI's client so that one does not vouch
// for the other. Keeps comments (heartbeats) as events of type ':'.
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export class SseReader {
  private buffer = '';
  private readonly decoder = new TextDecoder();
  private readonly queue: SseEvent[] = [];
  private ended = false;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(readonly response: Response) {
    if (response.body === null) throw new Error('no body');
    this.reader = response.body.getReader();
  }

  /** The next event (comments included), or null when the stream ended. Fails after `timeoutMs`. */
  async next(timeoutMs = 3000): Promise<SseEvent | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.queue.shift();
      if (e !== undefined) return e;
      if (this.ended) return null;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error('timed out waiting for an SSE event');
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), remaining))),
      ]);
      clearTimeout(timer);
      if (chunk === 'timeout') throw new Error('timed out waiting for an SSE event');
      if (chunk.done) {
        this.ended = true;
        continue;
      }
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
      this.parse();
    }
  }

  /** The next non-comment event. */
  async nextEvent(timeoutMs = 3000): Promise<SseEvent | null> {
    for (;;) {
      const e = await this.next(timeoutMs);
      if (e === null || e.event !== ':') return e;
    }
  }

  private parse(): void {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end < 0) return;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const e: SseEvent = { event: 'message', data: '' };
      const data: string[] = [];
      let comment = true;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        comment = false;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') e.id = value;
        else if (field === 'event') e.event = value;
        else if (field === 'data') data.push(value);
      }
      if (comment) {
        this.queue.push({ event: ':', data: block });
        continue;
      }
      e.data = data.join('\n');
      this.queue.push(e);
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }
}
