import { readRefusal } from '../refusal';
import { RequestError } from '../types';

function answer(status: number, body: string, statusText = ''): Response {
  return new Response(body, { status, statusText });
}

describe('readRefusal', () => {
  it("reads the server's text and kind, and keeps the status", async () => {
    const body = { error: 'no model named "nope" is served', kind: 'model_not_found' };
    const refusal = await readRefusal(answer(404, JSON.stringify(body)));
    expect(refusal).toBeInstanceOf(RequestError);
    expect(refusal.message).toBe(body.error);
    expect(refusal.kind).toBe('model_not_found');
    expect(refusal.status).toBe(404);
  });

  it('never takes a kind from the text', async () => {
    const body = { error: 'events_evicted: not_found (busy)', kind: 'forbidden' };
    const refusal = await readRefusal(answer(410, JSON.stringify(body)));
    expect(refusal.kind).toBe('forbidden');
    const kindless = await readRefusal(answer(410, JSON.stringify({ error: body.error })));
    expect(kindless.kind).toBeNull();
  });

  it.each([
    [
      'a proxy page',
      502,
      '<html>Bad Gateway</html>',
      'Bad Gateway',
      '502 Bad Gateway: <html>Bad Gateway</html>'
    ],
    ['an empty body', 504, '', '', '504 error'],
    [
      "jupyter_server's own error",
      403,
      '{"message": "Forbidden", "reason": null}',
      '',
      'Forbidden'
    ],
    ['an empty kind', 400, '{"error": "bad", "kind": ""}', '', 'bad'],
    ['a kind that is not a string', 400, '{"error": "bad", "kind": 404}', '', 'bad'],
    ['JSON that is not an object', 400, '["busy"]', '', '400 error: ["busy"]']
  ])('gives no kind for %s', async (_, status, body, statusText, message) => {
    const refusal = await readRefusal(answer(status, body, statusText));
    expect(refusal.kind).toBeNull();
    expect(refusal.message).toBe(message);
    expect(refusal.status).toBe(status);
  });

  it('keeps a kind this panel does not know, as sent', async () => {
    const refusal = await readRefusal(answer(400, '{"error": "x", "kind": "newer_kind"}'));
    expect(refusal.kind).toBe('newer_kind');
  });
});
