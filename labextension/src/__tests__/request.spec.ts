/**
 * The client against a fake network: JupyterLab's own ServerConnection.makeRequest, with
 * the settings' `fetch` answering as the server (or a proxy) would.
 */
import { ServerConnection } from '@jupyterlab/services';

import { InferlessClient } from '../request';
import { ModelInfo, RequestError } from '../types';

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

/** A client whose requests `answer` answers; `urls` records what was requested. */
function client(answer: (request: Request) => Response): {
  api: InferlessClient;
  urls: string[];
} {
  const urls: string[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    urls.push(`${request.method} ${new URL(request.url).pathname}`);
    return answer(request);
  };
  const settings = ServerConnection.makeSettings({ baseUrl: 'http://host/base/', fetch });
  return { api: new InferlessClient(settings), urls };
}

/** Watch the model list until it rejects, or until its first lost connection (then stop). */
async function watchOnce(api: InferlessClient): Promise<{ error: unknown; live: boolean[] }> {
  const stop = new AbortController();
  const live: boolean[] = [];
  const onLive = (value: boolean) => {
    live.push(value);
    if (!value) {
      stop.abort(); // it would reconnect now: enough seen
    }
  };
  try {
    await api.watchModels((_: ModelInfo[]) => undefined, onLive, stop.signal);
    return { error: null, live };
  } catch (error) {
    return { error, live };
  }
}

describe('InferlessClient: the pushed model list', () => {
  it('ends the watch on a refusal of kind not_found, whatever its text', async () => {
    const body = { error: 'events_evicted: busy, try again later', kind: 'not_found' };
    const { api, urls } = client(() => json(404, body));
    const { error, live } = await watchOnce(api);
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toMatchObject({ kind: 'not_found', status: 404, message: body.error });
    expect(live).toEqual([]);
    expect(urls).toEqual(['GET /base/inferless/api/models/events']);
  });

  it.each([
    [
      'another kind, with a text about no endpoint',
      json(404, { error: 'no endpoint GET', kind: 'forbidden' })
    ],
    ['a proxy page without a kind', new Response('<html>404 Not Found</html>', { status: 404 })],
    ['a server that is restarting', json(503, { error: 'not_found', kind: 'kernel_unavailable' })]
  ])(
    'does not end the watch (the connection is lost, to be reopened) after %s',
    async (_, answer) => {
      const { api, urls } = client(() => answer);
      const { error, live } = await watchOnce(api);
      expect(error).toBeNull();
      expect(live).toEqual([false]);
      expect(urls).toHaveLength(1);
    }
  );
});

describe('InferlessClient: a refused run', () => {
  it("rejects with the server's text, kind and status, before the stream opens", async () => {
    const body = { error: 'every replica of echo is busy', kind: 'busy' };
    const { api, urls } = client(() => json(429, body));
    const opened: (string | null)[] = [];
    const running = api.generateStream(
      'echo',
      { prompt: 'hi' },
      { onOpen: id => opened.push(id), onEvent: () => undefined },
      new AbortController().signal
    );
    await expect(running).rejects.toBeInstanceOf(RequestError);
    await expect(running).rejects.toMatchObject({ kind: 'busy', status: 429, message: body.error });
    expect(opened).toEqual([]);
    expect(urls).toEqual(['POST /base/inferless/v2/models/echo/generate_stream']);
  });
});
