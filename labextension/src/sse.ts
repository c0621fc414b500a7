/**
 * A Server-Sent Events parser, per the WHATWG "event stream interpretation" rules:
 * lines end with CR, LF or CRLF (also split across chunks); `:` lines are comments;
 * `data:` lines join with "\n"; `id:` persists across events; `retry:` takes digits only;
 * an event without data is not dispatched; a trailing event without its blank line is dropped.
 * An `id:` counts (becomes lastEventId) only when its block's blank line arrives, so a
 * connection cut inside an event never claims that event as received.
 */
import type { ISSEEvent } from './types';

export class SSEParser {
  /**
   * The id of the last complete block (sent back verbatim as Last-Event-ID by a resuming
   * client; ids are opaque).
   */
  lastEventId = '';
  /** The last `retry:` hint, in milliseconds, or null. */
  retry: number | null = null;

  constructor(
    private readonly onEvent: (event: ISSEEvent) => void,
    private readonly onComment: (text: string) => void = () => undefined
  ) {}

  /**
   * A new connection begins: drop what the last one left unfinished (a partial line or
   * event, which the server replays), keep lastEventId and retry.
   */
  reset(): void {
    this._pending = '';
    this._afterCR = false;
    this._first = true;
    this._data = [];
    this._event = '';
    this._id = this.lastEventId;
  }

  /** Parse the next piece of the body. */
  feed(chunk: string): void {
    let text = chunk;
    if (this._first && text.length > 0) {
      this._first = false;
      if (text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
      }
    }
    if (this._afterCR && text.charCodeAt(0) === 10) {
      text = text.slice(1); // the LF of a CRLF split between chunks
    }
    this._afterCR = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) {
        continue;
      }
      this._line(this._pending + text.slice(start, i));
      this._pending = '';
      if (c === 13) {
        if (i + 1 === text.length) {
          this._afterCR = true; // a line ends here at once; an LF may follow in the next chunk
        } else if (text.charCodeAt(i + 1) === 10) {
          i++;
        }
      }
      start = i + 1;
    }
    this._pending += text.slice(start);
  }

  private _line(line: string): void {
    if (line === '') {
      this._dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) {
      this.onComment(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) {
      value = value.slice(1);
    }
    switch (field) {
      case 'data':
        this._data.push(value);
        break;
      case 'event':
        this._event = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this._id = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) {
          this.retry = parseInt(value, 10);
        }
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private _dispatch(): void {
    this.lastEventId = this._id;
    const data = this._data;
    const event = this._event;
    this._data = [];
    this._event = '';
    if (data.length === 0) {
      return;
    }
    this.onEvent({ id: this.lastEventId, event: event || 'message', data: data.join('\n') });
  }

  private _pending = '';
  /** The id buffer: the last `id:` of the block being read. */
  private _id = '';
  private _afterCR = false;
  private _first = true;
  private _data: string[] = [];
  private _event = '';
}

/** Read a response body to its end, feeding the parser as bytes arrive. */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  parser: SSEParser
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      parser.feed(decoder.decode(value, { stream: true }));
    }
    parser.feed(decoder.decode());
  } catch (err) {
    reader.cancel().catch(() => undefined); // close the connection; the error is what matters
    throw err;
  } finally {
    reader.releaseLock();
  }
}
