import { readFileSync } from 'fs';
import * as path from 'path';

import {
  DEFAULT_RETRY_MS,
  MAX_RETRY_MS,
  readResumableStream,
  RequestFn,
  resumeRetried
} from '../resume';
import { SSEParser } from '../sse';
import { ISSEEvent, IStreamCallbacks, RefusalKind, RequestError, StreamLostError } from '../types';

const URL_ = 'http://host/base/inferless/api/streams/rid';

/** Event `n` as the server writes it (ids are opaque to the client: `rid:N`). */
function ev(n: number): string {
  return `id: rid:${n}\ndata: {"OUT":"t${n} "}\n\n`;
}

function evs(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => ev(from + i));
}

/**
 * A 200 whose body sends `chunks` one read at a time, then ends cleanly or fails the
 * way a reset connection does (the reader rejects).
 */
function sse(chunks: string[], end: 'close' | Error = 'close'): Response {
  const encoder = new TextEncoder();
  let next = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < chunks.length) {
        controller.enqueue(encoder.encode(chunks[next++]));
      } else if (end === 'close') {
        controller.close();
      } else {
        controller.error(end);
      }
    }
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

const dropped = () => new TypeError('network error');
const aborted = () =>
  Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });

interface IHarness {
  events: ISSEEvent[];
  reconnects: boolean[];
  calls: { url: string; init: RequestInit; headers: Record<string, string> }[];
  waits: number[];
  controller: AbortController;
  read(first: Response, options?: IReadOptions): Promise<void>;
}

interface IReadOptions {
  resumeUrl?: string | null;
  /** Callbacks to use instead of the harness's recording ones. */
  callbacks?: Partial<IStreamCallbacks>;
  /** Wait for real (abortable) instead of recording the waits. */
  realSleep?: boolean;
}

/** Answers the resume GETs in order: a Response, or an error to reject with. */
function harness(answers: (Response | Error | (() => Response | Error))[]): IHarness {
  const h: IHarness = {
    events: [],
    reconnects: [],
    calls: [],
    waits: [],
    controller: new AbortController(),
    read: (first, options = {}) =>
      readResumableStream(first, {
        resumeUrl: options.resumeUrl === undefined ? URL_ : options.resumeUrl,
        request,
        callbacks: {
          onOpen: () => undefined,
          onEvent: event => h.events.push(event),
          onReconnect: reconnecting => h.reconnects.push(reconnecting),
          ...options.callbacks
        },
        signal: h.controller.signal,
        sleep: options.realSleep
          ? undefined
          : async ms => {
              h.waits.push(ms);
            }
      })
  };
  const request: RequestFn = async (url, init) => {
    h.calls.push({ url, init, headers: { ...(init.headers as Record<string, string>) } });
    const next = answers.shift();
    const answer = typeof next === 'function' ? next() : next;
    if (answer === undefined) {
      throw new Error('unexpected request');
    }
    if (answer instanceof Error) {
      throw answer;
    }
    return answer;
  };
  return h;
}

const outs = (events: ISSEEvent[]) => events.map(e => JSON.parse(e.data).OUT).join('');
const expected = (n: number) => Array.from({ length: n }, (_, i) => `t${i} `).join('');

describe('readResumableStream', () => {
  it('resumes after a mid-body error with the last complete id, each event once', async () => {
    // The cut falls inside event 5, after its id line: 5 was not received, 4 was.
    const h = harness([sse(evs(5, 10))]);
    const first = sse(['retry: 2000\n', ...evs(0, 5), 'id: rid:5\ndata: {"OU'], dropped());
    await h.read(first);
    expect(outs(h.events)).toBe(expected(10));
    expect(h.events.map(e => e.id)).toEqual(Array.from({ length: 10 }, (_, i) => `rid:${i}`));
    expect(h.calls).toHaveLength(1);
    expect(h.calls[0].url).toBe(URL_);
    expect(h.calls[0].init.method).toBe('GET');
    expect(h.calls[0].init.signal).toBe(h.controller.signal);
    expect(h.calls[0].headers).toEqual({
      Accept: 'text/event-stream',
      'Last-Event-ID': 'rid:4'
    });
    expect(h.reconnects).toEqual([true, false]);
  });

  it('sends back ids verbatim, whatever they look like', async () => {
    const h = harness([sse(['id: 42\ndata: {"OUT":"b"}\n\n'])]);
    await h.read(sse(['id: opaque:id 7 é\ndata: {"OUT":"a"}\n\n'], dropped()));
    expect(h.calls[0].headers['Last-Event-ID']).toBe('opaque:id 7 é');
    expect(outs(h.events)).toBe('ab');
  });

  it('resumes as often as the connection drops, while each resume brings events', async () => {
    const h = harness([
      sse(evs(3, 6), dropped()),
      sse(evs(6, 9), dropped()),
      sse(evs(9, 12), dropped()),
      sse(evs(12, 15), dropped()),
      sse(evs(15, 18), dropped()),
      sse(evs(18, 20))
    ]);
    await h.read(sse(evs(0, 3), dropped()));
    expect(outs(h.events)).toBe(expected(20));
    expect(h.calls.map(c => c.headers['Last-Event-ID'])).toEqual([
      'rid:2',
      'rid:5',
      'rid:8',
      'rid:11',
      'rid:14',
      'rid:17'
    ]);
    expect(h.reconnects).toEqual(Array(6).fill([true, false]).flat());
  });

  it('sends no Last-Event-ID when no event was received', async () => {
    const h = harness([sse(evs(0, 2))]);
    await h.read(sse(['retry: 2000\n', 'id: rid:0\nda'], dropped()));
    expect(h.calls[0].headers).toEqual({ Accept: 'text/event-stream' });
    expect(outs(h.events)).toBe(expected(2));
  });

  it('finishes on 204: the stream ended and everything was delivered', async () => {
    const h = harness([new Response(null, { status: 204 })]);
    await h.read(sse(evs(0, 3), dropped()));
    expect(outs(h.events)).toBe(expected(3));
    expect(h.calls[0].headers['Last-Event-ID']).toBe('rid:2');
    expect(h.reconnects).toEqual([true, false]);
  });

  it.each([
    [410, 'events_evicted', 'cannot resume after id 3: events before id 4000 are no longer kept'],
    [404, 'not_found', "no stream 'rid' (unknown, or finished long ago)"]
  ])('fails with the server message on %d %s', async (status, kind, message) => {
    const h = harness([json(status, { error: message, kind })]);
    const reading = h.read(sse(evs(0, 4), dropped()));
    await expect(reading).rejects.toThrow(StreamLostError);
    await expect(reading).rejects.toThrow(
      `the connection dropped and the stream could not be resumed: ${message}`
    );
    await expect(reading).rejects.toMatchObject({ kind });
    expect(h.calls).toHaveLength(1);
    expect(h.reconnects).toEqual([true]);
  });

  it('retries other failures, backing off, then gives up after 5 in a row', async () => {
    const h = harness([
      dropped(),
      json(503, { error: 'busy' }),
      sse([], dropped()), // a 200 that brings nothing counts as a failure too
      dropped(),
      new TypeError('Failed to fetch')
    ]);
    const reading = h.read(sse(['retry: 100\n', ...evs(0, 2)], dropped()));
    await expect(reading).rejects.toThrow(
      'the connection dropped and the stream could not be resumed: ' +
        'Failed to fetch (5 reconnects failed)'
    );
    expect(h.calls).toHaveLength(5);
    expect(h.waits).toEqual([100, 200, 400, 800, 1600]);
    expect(outs(h.events)).toBe(expected(2));
  });

  it('recovers after some failed reconnects', async () => {
    const h = harness([dropped(), json(502, { error: 'bad gateway' }), sse(evs(2, 4))]);
    await h.read(sse(['retry: 100\n', ...evs(0, 2)], dropped()));
    expect(outs(h.events)).toBe(expected(4));
    expect(h.calls.map(c => c.headers['Last-Event-ID'])).toEqual(['rid:1', 'rid:1', 'rid:1']);
    expect(h.reconnects).toEqual([true, false]);
  });

  it('waits the retry hint, the default without one, and caps it', async () => {
    for (const [prefix, wait] of [
      ['retry: 1234\n', 1234],
      ['', DEFAULT_RETRY_MS],
      ['retry: 600000\n', MAX_RETRY_MS]
    ] as const) {
      const h = harness([new Response(null, { status: 204 })]);
      await h.read(sse([prefix + ev(0)], dropped()));
      expect(h.waits).toEqual([wait]);
    }
  });

  it('really waits the hint before reconnecting', async () => {
    const answered: number[] = [];
    const started = Date.now();
    const request: RequestFn = async () => {
      answered.push(Date.now() - started);
      return new Response(null, { status: 204 });
    };
    await readResumableStream(sse(['retry: 60\n', ev(0)], dropped()), {
      resumeUrl: URL_,
      request,
      callbacks: { onOpen: () => undefined, onEvent: () => undefined },
      signal: new AbortController().signal
    });
    expect(answered).toHaveLength(1);
    expect(answered[0]).toBeGreaterThanOrEqual(55);
  });

  it('does not reconnect after a clean end, and drops an unfinished event', async () => {
    const h = harness([]);
    await h.read(sse([...evs(0, 3), 'id: rid:3\ndata: {"OUT":"t3 "}\n']));
    expect(outs(h.events)).toBe(expected(3));
    expect(h.calls).toHaveLength(0);
    expect(h.reconnects).toEqual([]);
  });

  it('stops when the run is aborted while reading', async () => {
    const h = harness([]);
    const first = sse(evs(0, 2), aborted());
    h.controller.abort();
    await expect(h.read(first)).rejects.toThrow('aborted');
    expect(h.calls).toHaveLength(0);
    expect(h.reconnects).toEqual([]);
  });

  it('stops when the run is aborted while waiting to reconnect', async () => {
    const h = harness([]);
    const reading = h.read(sse(['retry: 60000\n', ev(0)], dropped()), {
      realSleep: true,
      callbacks: {
        onReconnect: reconnecting => {
          if (reconnecting) {
            setTimeout(() => h.controller.abort(), 5); // Stop, during the 60 s wait
          }
        }
      }
    });
    const started = Date.now();
    await expect(reading).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(h.calls).toHaveLength(0);
  });

  it('stops when the run is aborted during the resume request', async () => {
    const h = harness([
      () => {
        h.controller.abort();
        return aborted();
      },
      new Response(null, { status: 204 })
    ]);
    await expect(h.read(sse(evs(0, 2), dropped()))).rejects.toThrow('aborted');
    expect(h.calls).toHaveLength(1);
  });

  it('cannot resume a stream the server did not name', async () => {
    const h = harness([]);
    await expect(h.read(sse(evs(0, 2), dropped()), { resumeUrl: null })).rejects.toThrow(
      'network error'
    );
    expect(h.calls).toHaveLength(0);
  });

  it('never reconnects because a callback threw', async () => {
    const h = harness([]);
    const reading = h.read(sse(evs(0, 3)), {
      callbacks: {
        onEvent: () => {
          throw new Error('bad handler');
        }
      }
    });
    await expect(reading).rejects.toThrow('bad handler');
    expect(h.calls).toHaveLength(0);
  });
});

/** Every kind the server's OpenAPI document (the committed snapshot) lists for a refusal. */
function refusalKinds(): RefusalKind[] {
  const file = path.join(__dirname, '..', 'generated', 'openapi.json');
  return JSON.parse(readFileSync(file, 'utf-8')).components.schemas.ErrorKind.enum;
}

describe('a refused resume: decided by its kind', () => {
  /** How a resume refused with `refusal` ends: given up (with what kind), or retried. */
  async function outcome(refusal: Response): Promise<string> {
    const h = harness([refusal, new Response(null, { status: 204 })]);
    try {
      await h.read(sse(evs(0, 2), dropped()));
    } catch (err) {
      expect(h.calls).toHaveLength(1);
      return `lost ${(err as StreamLostError).kind}`;
    }
    expect(h.calls).toHaveLength(2);
    return 'retried';
  }

  it.each([
    // the same status, told apart by the kind alone
    [404, 'events_evicted', 'lost events_evicted'],
    [404, 'not_found', 'lost not_found'],
    [404, 'kernel_unavailable', 'retried'],
    [410, 'busy', 'retried'],
    // a status that would say "retry", and a kind that says the stream is gone
    [503, 'events_evicted', 'lost events_evicted'],
    [500, 'not_found', 'lost not_found'],
    [429, 'forbidden', 'lost forbidden'],
    // a kind this panel does not know: the server said why, so no more tries
    [503, 'some_future_kind', 'lost some_future_kind']
  ])('%d with kind %s: %s', async (status, kind, expected) => {
    expect(await outcome(json(status, { error: 'the server says why', kind }))).toBe(expected);
  });

  it.each([
    // the text names other kinds' words; only the kind counts
    [503, 'not_found', 'busy, kernel_unavailable: retry later (internal_error)', 'lost not_found'],
    [404, 'busy', 'events_evicted: not_found, no longer kept, gone', 'retried'],
    [410, 'kernel_unavailable', 'no stream (unknown, or finished long ago)', 'retried']
  ])('%d with kind %s and the text %j: %s', async (status, kind, error, expected) => {
    expect(await outcome(json(status, { error, kind }))).toBe(expected);
  });

  it.each([
    // no kind: not the server's answer but a proxy's; its 5xx is tried again
    [502, '<html><body>Bad Gateway</body></html>', 'retried'],
    [504, '', 'retried'],
    [503, { error: 'upstream busy' }, 'retried'],
    [404, '<html>Not Found</html>', 'lost null'],
    [403, { message: 'Forbidden' }, 'lost null'],
    [404, { error: 'events_evicted', kind: '' }, 'lost null']
  ])('%d without a kind (%j): %s', async (status, body, expected) => {
    const answer = typeof body === 'string' ? new Response(body, { status }) : json(status, body);
    expect(await outcome(answer)).toBe(expected);
  });

  it('decides every documented kind the same whatever the status', () => {
    const kinds = refusalKinds();
    expect(kinds).toEqual(expect.arrayContaining(['not_found', 'events_evicted', 'busy']));
    for (const kind of kinds) {
      const decisions = [400, 404, 410, 429, 500, 503].map(status =>
        resumeRetried(new RequestError('text', status, kind))
      );
      expect(new Set(decisions).size).toBe(1);
      expect([kind, decisions[0]]).toEqual([
        kind,
        ['busy', 'kernel_unavailable', 'internal_error'].includes(kind)
      ]);
    }
  });

  it("gives up after repeated retried refusals with the last one's kind", async () => {
    const busy = () => json(429, { error: 'every replica is busy', kind: 'busy' });
    const h = harness([busy(), busy(), busy(), busy(), busy()]);
    const reading = h.read(sse(['retry: 100\n', ev(0)], dropped()));
    await expect(reading).rejects.toMatchObject({
      kind: 'busy',
      message:
        'the connection dropped and the stream could not be resumed: ' +
        'every replica is busy (5 reconnects failed)'
    });
    expect(h.calls).toHaveLength(5);
  });
});

describe('SSEParser across connections', () => {
  it('counts an id only once its event is complete', () => {
    const parser = new SSEParser(() => undefined);
    parser.feed('id: rid:0\ndata: a\n\nid: rid:1\ndata: b');
    expect(parser.lastEventId).toBe('rid:0');
    parser.feed('\n\n');
    expect(parser.lastEventId).toBe('rid:1');
  });

  it('a block with only an id sets it', () => {
    const parser = new SSEParser(() => undefined);
    parser.feed('id: rid:-1\n\n');
    expect(parser.lastEventId).toBe('rid:-1');
  });

  it.each([
    {
      what: 'an unfinished event and keeps the id and retry hint',
      before: 'retry: 500\nid: rid:0\ndata: a\n\nid: rid:1\ndata: {"half',
      after: '\ufeffid: rid:1\ndata: b\n\n',
      read: [
        ['rid:0', 'a'],
        ['rid:1', 'b']
      ],
      retry: 500
    },
    {
      what: 'the data of an event cut after a CR',
      before: 'data: a\r',
      after: '\ndata: b\n\n',
      read: [['', 'b']],
      retry: null
    }
  ])('reset drops $what', ({ before, after, read, retry }) => {
    const events: ISSEEvent[] = [];
    const parser = new SSEParser(e => events.push(e));
    parser.feed(before);
    parser.reset();
    parser.feed(after);
    expect(events.map(e => [e.id, e.data])).toEqual(read);
    expect(parser.retry).toBe(retry);
  });
});
