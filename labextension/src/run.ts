/**
 * One run of a model, by the stream views' rulebook (README.md, "The stream views'
 * rulebook"; the inline view in jupyter_inferless/widget/ follows it too, and
 * tests/stream_views.json holds the cases both are tested against): its state, the text
 * and the table of latest values its events make, the in-band error, a bounded raw event
 * log, and the timings behind the stats (events, events/s, time to first event).
 */
import type { ErrorKind, InBandError, ISSEEvent } from './types';

/** Every state of a run, in order; the last four are final. */
export const STATES = [
  'connecting',
  'streaming',
  'stopping',
  'done',
  'cancelled',
  'failed',
  'refused'
] as const;
export type RunState = (typeof STATES)[number];
export const FINAL_STATES: readonly RunState[] = ['done', 'cancelled', 'failed', 'refused'];

/**
 * How a stream ended: its body ended; an in-band error; the server refused the request;
 * the connection was lost for good; or, after Stop, the view stopped reading (hung up).
 */
export type End = 'end' | 'error' | 'refused' | 'lost' | 'hang_up';

/** The key whose string value is the text. */
export const TEXT_KEY = 'OUT';
/** The kind of an in-band error that names none. */
export const DEFAULT_ERROR_KIND: ErrorKind = 'model_error';
const CANCELLED_KIND: ErrorKind = 'cancelled';

/**
 * The final state of a stream that ended by `end` (`kind`: the in-band error's), decided
 * by the error's kind alone, never by its text; `stopped`: Stop was pressed.
 */
export function finalState(end: End, kind: string | null, stopped: boolean): RunState {
  switch (end) {
    case 'end':
      return 'done';
    case 'error':
      return kind === CANCELLED_KIND ? 'cancelled' : 'failed';
    case 'refused':
      return 'refused';
    default:
      return stopped ? 'cancelled' : 'failed'; // lost, or hung up
  }
}

/**
 * The in-band error `{"error": TEXT, "kind": KIND, "type": TYPE}` an event carries, or null
 * for an output.
 * A kind the server's document does not list is kept as sent (it ends the run `failed`).
 */
export function inBandError(payload: unknown): InBandError | null {
  if (!isObject(payload)) {
    return null;
  }
  const { error, kind } = payload;
  const others = Object.keys(payload).some(key => !['error', 'kind', 'type'].includes(key));
  if (typeof error !== 'string' || others) {
    return null;
  }
  const named = typeof kind === 'string' && kind !== '';
  return { error, kind: named ? (kind as ErrorKind) : DEFAULT_ERROR_KIND };
}

/** What one output event shows: text it adds, and the values of the table of latest values. */
export interface IShown {
  text: string | null;
  table: Record<string, unknown> | null;
}

/**
 * A string `OUT` is text and the other keys are the table; without one, a lone string
 * value is text; anything else is a table of the whole event.
 */
export function splitEvent(payload: unknown): IShown {
  if (!isObject(payload)) {
    return { text: null, table: { value: payload } };
  }
  const out = payload[TEXT_KEY];
  if (typeof out === 'string') {
    const rest = Object.fromEntries(Object.entries(payload).filter(([key]) => key !== TEXT_KEY));
    return { text: out, table: Object.keys(rest).length > 0 ? rest : null };
  }
  const values = Object.values(payload);
  if (values.length === 1 && typeof values[0] === 'string') {
    return { text: values[0], table: null };
  }
  return { text: null, table: { ...payload } };
}

/**
 * (events − 1) per second from the first event (at `firstAt`, ms) to `until` (now, or the
 * stream's end, ms); null before a second event or while no time has passed.
 */
export function eventsPerSecond(
  events: number,
  firstAt: number | null,
  until: number
): number | null {
  if (firstAt === null || events < 2) {
    return null;
  }
  const seconds = (until - firstAt) / 1000;
  return seconds > 0 ? (events - 1) / seconds : null;
}

export interface IStats {
  events: number;
  /** null: not measurable yet (see eventsPerSecond). */
  perSecond: number | null;
  firstEventMs: number | null;
}

export class Run {
  constructor(
    /** 1 for the first run of a panel, then 2, ... */
    readonly seq: number,
    readonly model: string,
    readonly startedAt: number,
    private readonly _maxRaw: number
  ) {}

  state: RunState = 'connecting';
  /** Stop was pressed. */
  stopRequested = false;
  /** The text the events added (their string `OUT`, or lone string value). */
  text = '';
  /** The latest values the table shows (the keys that are not the text), or null. */
  tableValues: Record<string, unknown> | null = null;
  /** Output events received (the in-band error is not counted). */
  events = 0;
  /** The last events as received: `id: N` and `data: ...`. */
  readonly raw: string[] = [];
  /** Older raw events not kept. */
  rawDropped = 0;
  /** Why the run was cancelled, failed or refused: the in-band error's text, or the view's. */
  error: string | null = null;
  /** The in-band error's kind. */
  errorKind: ErrorKind | null = null;
  /** The server's X-Request-Id, to cancel with. */
  requestId: string | null = null;
  /** The connection dropped and is being resumed. */
  reconnecting = false;
  /** Dropped connections the stream was resumed after. */
  resumes = 0;
  /** Why the view stopped reading after Stop (the model aborts the stream then). */
  hangUpReason: string | null = null;
  firstEventAt: number | null = null;
  endedAt: number | null = null;

  /** Not in a final state yet. */
  get active(): boolean {
    return !FINAL_STATES.includes(this.state);
  }

  /** The server accepted the request. */
  opened(requestId: string | null): void {
    this.requestId = requestId;
    if (this.state === 'connecting') {
      this.state = 'streaming';
    }
  }

  /** Stop was pressed: true when the run was connecting or streaming, and is now stopping. */
  stop(): boolean {
    if (this.state !== 'connecting' && this.state !== 'streaming') {
      return false;
    }
    this.state = 'stopping';
    this.stopRequested = true;
    return true;
  }

  /** An event arrived: an output, or the in-band error that ends the stream. */
  receive(event: ISSEEvent, now: number): void {
    if (!this.active) {
      return;
    }
    this.raw.push(`id: ${event.id}\ndata: ${event.data}`);
    if (this.raw.length > this._maxRaw) {
      this.raw.shift();
      this.rawDropped += 1;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(event.data);
    } catch {
      payload = event.data;
    }
    const error = inBandError(payload);
    if (error !== null) {
      this.finish('error', now, error.error, error.kind);
      return;
    }
    if (this.state === 'connecting') {
      this.state = 'streaming';
    }
    this.firstEventAt ??= now;
    this.events += 1;
    const shown = splitEvent(payload);
    if (shown.text !== null) {
      this.text += shown.text;
    }
    if (shown.table !== null) {
      this.tableValues = shown.table;
    }
  }

  /** The stream ended by `end`: the final state it decides; the first end wins. */
  finish(
    end: End,
    now: number,
    message: string | null = null,
    kind: ErrorKind | null = null
  ): void {
    if (!this.active) {
      return;
    }
    this.state = finalState(end, kind, this.stopRequested);
    this.error = message;
    this.errorKind = kind;
    this.endedAt = now;
  }

  stats(now: number): IStats {
    return {
      events: this.events,
      perSecond: eventsPerSecond(this.events, this.firstEventAt, this.endedAt ?? now),
      firstEventMs: this.firstEventAt === null ? null : this.firstEventAt - this.startedAt
    };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
