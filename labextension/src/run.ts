/**
 * One run of a model: the text its events add, a bounded raw event log, the in-band
 * error, and the timings behind the stats (events, events/s, time to first event).
 */
import type { ISSEEvent } from './types';

export type RunState = 'running' | 'stopping' | 'done' | 'stopped' | 'failed' | 'refused';

export interface IStats {
  events: number;
  perSecond: number;
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

  state: RunState = 'running';
  /** The outputs as text, appended as events arrive. */
  text = '';
  /** Output events received (the in-band error is not counted). */
  events = 0;
  /** The last events as received: `id: N` and `data: ...`. */
  readonly raw: string[] = [];
  /** Older raw events not kept. */
  rawDropped = 0;
  /** The in-band error, or a lost connection. */
  error: string | null = null;
  /** The server's X-Request-Id, to cancel with. */
  requestId: string | null = null;
  /** The connection dropped and is being resumed. */
  reconnecting = false;
  /** Dropped connections the stream was resumed after. */
  resumes = 0;
  firstEventAt: number | null = null;
  endedAt: number | null = null;

  get active(): boolean {
    return this.state === 'running' || this.state === 'stopping';
  }

  /** An event arrived: an output to append, or the in-band error that ends the stream. */
  receive(event: ISSEEvent, now: number): void {
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
    if (error === null) {
      this.firstEventAt ??= now;
      this.events += 1;
      this.text += typeof payload === 'string' ? payload : outputText(payload);
    } else if (this.state === 'stopping' && error.startsWith('cancelled')) {
      this.state = 'stopped'; // the cancellation we asked for
    } else {
      this.state = 'failed';
      this.error = error;
    }
  }

  stats(now: number): IStats {
    const seconds = ((this.endedAt ?? now) - this.startedAt) / 1000;
    return {
      events: this.events,
      perSecond: seconds > 0 ? this.events / seconds : 0,
      firstEventMs: this.firstEventAt === null ? null : this.firstEventAt - this.startedAt
    };
  }
}

/** The text an output event adds: a lone string value as is, anything else as a JSON line. */
export function outputText(output: unknown): string {
  if (output !== null && typeof output === 'object' && !Array.isArray(output)) {
    const values = Object.values(output);
    if (values.length === 1 && typeof values[0] === 'string') {
      return values[0];
    }
  }
  return JSON.stringify(output) + '\n';
}

/** An in-band error event's message, or null for an output. */
function inBandError(payload: unknown): string | null {
  if (payload !== null && typeof payload === 'object' && !Array.isArray(payload)) {
    const keys = Object.keys(payload);
    const error = (payload as { error?: unknown }).error;
    if (keys.length === 1 && typeof error === 'string') {
      return error;
    }
  }
  return null;
}
