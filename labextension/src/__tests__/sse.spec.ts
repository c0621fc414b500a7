import { SSEParser, readEventStream } from '../sse';
import { ISSEEvent } from '../types';

function parse(...chunks: string[]): {
  events: ISSEEvent[];
  comments: string[];
  parser: SSEParser;
} {
  const events: ISSEEvent[] = [];
  const comments: string[] = [];
  const parser = new SSEParser(
    e => events.push(e),
    c => comments.push(c)
  );
  chunks.forEach(chunk => parser.feed(chunk));
  return { events, comments, parser };
}

describe('SSEParser', () => {
  // [description, chunks, expected [id, data] pairs]
  const table: [string, string[], [string, string][]][] = [
    ['one event', ['id: 0\ndata: {"OUT":"T"}\n\n'], [['0', '{"OUT":"T"}']]],
    ['CRLF line endings', ['id: 1\r\ndata: a\r\n\r\n'], [['1', 'a']]],
    ['CR line endings', ['id: 2\rdata: b\r\r'], [['2', 'b']]],
    [
      'CRLF split between chunks',
      ['data: a\r', '\n\r', '\ndata: b\r\n\r\n'],
      [
        ['', 'a'],
        ['', 'b']
      ]
    ],
    ['a CR at a chunk end is one line end', ['data: a\r', 'data: b\r\r'], [['', 'a\nb']]],
    ['a CR ending the last chunk dispatches at once', ['data: a\r\r'], [['', 'a']]],
    ['a line split at every byte', [...'id: 7\ndata: xyz\n\n'], [['7', 'xyz']]],
    ['multi-line data joins with LF', ['data: a\ndata: b\n\n'], [['', 'a\nb']]],
    ['only one leading space is removed', ['data:  two\ndata:none\n\n'], [['', ' two\nnone']]],
    ['a field without a colon has an empty value', ['data\n\n'], [['', '']]],
    [
      'id persists until changed',
      ['id: 3\ndata: a\n\ndata: b\n\n'],
      [
        ['3', 'a'],
        ['3', 'b']
      ]
    ],
    [
      'an id with NUL is ignored',
      ['id: 1\ndata: a\n\nid: x\0y\ndata: b\n\n'],
      [
        ['1', 'a'],
        ['1', 'b']
      ]
    ],
    ['no data, no event', ['id: 4\n\nevent: x\n\n'], []],
    ['unknown fields are ignored', ['foo: bar\ndata: a\n\n'], [['', 'a']]],
    ['an unterminated event is not dispatched', ['data: a\n\ndata: b\n'], [['', 'a']]],
    ['a leading BOM is dropped', ['\ufeffdata: a\n\n'], [['', 'a']]],
    ['UTF-8 text passes through', ['data: {"OUT":"é✓"}\n\n'], [['', '{"OUT":"é✓"}']]]
  ];

  it.each(table)('%s', (_, chunks, expected) => {
    const { events } = parse(...chunks);
    expect(events.map(e => [e.id, e.data])).toEqual(expected);
  });

  it('reports comments (heartbeats) and the retry hint', () => {
    const { events, comments, parser } = parse('retry: 2000\n\n:\n\n: ping\n\n');
    expect(events).toEqual([]);
    expect(comments).toEqual(['', 'ping']);
    expect(parser.retry).toBe(2000);
  });

  it('ignores a retry that is not all digits', () => {
    const { parser } = parse('retry: 2s\n\n');
    expect(parser.retry).toBeNull();
  });

  it('names the event type, message by default', () => {
    const { events } = parse('event: update\ndata: a\n\ndata: b\n\n');
    expect(events.map(e => e.event)).toEqual(['update', 'message']);
  });

  it('keeps the last event id for resuming', () => {
    const { parser } = parse('id: 24\ndata: x\n\n');
    expect(parser.lastEventId).toBe('24');
  });
});

describe('readEventStream', () => {
  function body(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
    return new ReadableStream({
      start(controller) {
        chunks.forEach(chunk => controller.enqueue(chunk));
        controller.close();
      }
    });
  }

  it('decodes UTF-8 split inside a character', async () => {
    const bytes = new TextEncoder().encode('data: {"OUT":"✓"}\n\n');
    const cut = bytes.indexOf(0xe2) + 1; // in the middle of the check mark
    const events: ISSEEvent[] = [];
    await readEventStream(
      body([bytes.slice(0, cut), bytes.slice(cut)]),
      new SSEParser(e => events.push(e))
    );
    expect(events.map(e => JSON.parse(e.data))).toEqual([{ OUT: '✓' }]);
  });

  it('reads 25 events as the server writes them', async () => {
    const text = Array.from({ length: 25 }, (_, i) => `id: ${i}\ndata: {"OUT":"t${i} "}\n\n`);
    const events: ISSEEvent[] = [];
    await readEventStream(
      body(['retry: 2000\n\n', ...text].map(t => new TextEncoder().encode(t))),
      new SSEParser(e => events.push(e))
    );
    expect(events).toHaveLength(25);
    expect(events[24]).toEqual({ id: '24', event: 'message', data: '{"OUT":"t24 "}' });
  });

  it('cancels the body when a handler throws', async () => {
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('data: x\n\n'));
      },
      cancel() {
        cancelled = true;
      }
    });
    const parser = new SSEParser(() => {
      throw new Error('bad handler');
    });
    await expect(readEventStream(stream, parser)).rejects.toThrow('bad handler');
    expect(cancelled).toBe(true);
  });
});
