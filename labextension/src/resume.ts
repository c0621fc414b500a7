/**
 * Reads a run's SSE stream to its end, resuming it after a dropped connection.
 *
 * When reading the body fails (a reset connection, an incomplete chunked body) and the
 * run was not aborted, it waits the server's `retry:` hint, then GETs the stream resource
 * with `Last-Event-ID` (the parser's last complete id, sent back verbatim: ids are
 * opaque) and goes on feeding the same callbacks, so every event arrives once, in order.
 * A clean end of the body is the end of the stream. The request function is injected
 * (request.ts passes ServerConnection.makeRequest), so this module never reaches the
 * server by itself and its tests need no JupyterLab. A refused resume ends the stream or
 * is tried again by its body's kind (`resumeRetried`), never by its status or its text.
 */
import { readRefusal } from './refusal';
import { readEventStream, SSEParser } from './sse';
import { IStreamCallbacks, RefusalKind, RequestError, StreamLostError } from './types';

/** fetch's shape: how the resume GET is sent. */
export type RequestFn = (url: string, init: RequestInit) => Promise<Response>;

/** The wait before a reconnect when the server sent no `retry:` hint (the server's default). */
export const DEFAULT_RETRY_MS = 2000;
/** The longest wait before a reconnect, whatever the hint and the backoff say. */
export const MAX_RETRY_MS = 10000;
/** Reconnects in a row that bring no event before the stream is given up. */
export const MAX_RECONNECTS = 5;
/**
 * The refusals of a resume worth trying again: the server is busy, or it or the model's
 * kernel failed for now. Any other kind says the stream cannot be resumed (`not_found`: the
 * server does not know it; `events_evicted`: the events after the last id are gone; ...).
 */
const RETRIED_KINDS: ReadonlySet<RefusalKind> = new Set<RefusalKind>([
  'busy',
  'kernel_unavailable',
  'internal_error'
]);

/**
 * Whether a refused resume is tried again (within the reconnect limit): by its kind. A 5xx
 * that names no kind is too: a proxy between the panel and the server sent it.
 */
export function resumeRetried(refusal: RequestError): boolean {
  return refusal.kind === null ? refusal.status >= 500 : RETRIED_KINDS.has(refusal.kind);
}

export interface IResumeOptions {
  /** Where the stream is resumed (`…/inferless/api/streams/RID`); null: it cannot be. */
  resumeUrl: string | null;
  request: RequestFn;
  callbacks: IStreamCallbacks;
  /** Aborting it (Stop) ends the read and any reconnecting. */
  signal: AbortSignal;
  maxReconnects?: number;
  defaultRetryMs?: number;
  maxRetryMs?: number;
  /** How to wait (tests pass a recorder); resolves early when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Read `first` (the stream's response) and whatever resumes it, until the stream ends. */
export async function readResumableStream(first: Response, options: IResumeOptions): Promise<void> {
  const { callbacks, signal, resumeUrl } = options;
  const maxReconnects = options.maxReconnects ?? MAX_RECONNECTS;
  const sleep = options.sleep ?? abortableSleep;
  let received = 0;
  let handlerError: { error: unknown } | null = null;
  const parser = new SSEParser(event => {
    received += 1;
    try {
      callbacks.onEvent(event);
    } catch (error) {
      handlerError = { error }; // our bug, not the network's: never reconnect for it
      throw error;
    }
  });
  let response: Response | null = first;
  let failures = 0; // reconnects in a row that brought no event
  let lastError: unknown = null;
  while (response !== null) {
    const before = received;
    try {
      if (response.body) {
        await readEventStream(response.body, parser);
      }
      return; // a clean end of the body: the stream is over
    } catch (err) {
      if (signal.aborted || handlerError !== null || resumeUrl === null) {
        throw err;
      }
      lastError = err;
    }
    if (received > before) {
      failures = 0;
    }
    parser.reset(); // a partly received event is dropped: the server replays it
    callbacks.onReconnect?.(true);
    response = null;
    while (response === null) {
      if (failures >= maxReconnects) {
        const kind = lastError instanceof RequestError ? lastError.kind : null;
        throw lost(`${describe(lastError)} (${failures} reconnects failed)`, kind);
      }
      failures += 1;
      const hint = parser.retry ?? options.defaultRetryMs ?? DEFAULT_RETRY_MS;
      const wait = Math.min(hint * 2 ** (failures - 1), options.maxRetryMs ?? MAX_RETRY_MS);
      await sleep(wait, signal);
      if (signal.aborted) {
        throw signal.reason ?? new Error('aborted');
      }
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (parser.lastEventId !== '') {
        headers['Last-Event-ID'] = parser.lastEventId;
      }
      let answer: Response;
      try {
        answer = await options.request(resumeUrl, { method: 'GET', headers, signal });
      } catch (err) {
        if (signal.aborted) {
          throw err;
        }
        lastError = err;
        continue;
      }
      if (answer.status === 204) {
        callbacks.onReconnect?.(false);
        return; // it ended, and everything was delivered
      }
      if (answer.ok) {
        response = answer;
        break;
      }
      const refusal = await readRefusal(answer);
      if (!resumeRetried(refusal)) {
        throw lost(refusal.message, refusal.kind);
      }
      lastError = refusal;
    }
    callbacks.onReconnect?.(false);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

function lost(reason: string, kind: RefusalKind | null = null): StreamLostError {
  return new StreamLostError(
    `the connection dropped and the stream could not be resumed: ${reason}`,
    kind
  );
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message || err.name : String(err);
}
