/**
 * The only module that talks to the server. Every call goes through
 * ServerConnection.makeRequest, which adds the token or the `_xsrf` header; streams are
 * read from the fetch Response's body (EventSource cannot POST or send headers), and a
 * run's stream is resumed after a dropped connection (resume.ts, given makeRequest).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { readRefusal } from './refusal';
import { abortableSleep, readResumableStream } from './resume';
import { SSEParser, readEventStream } from './sse';
import {
  IInferlessApi,
  IStreamCallbacks,
  ModelInfo,
  ModelList,
  OPENAPI_PATH,
  RequestError
} from './types';

/** Reconnect delays for the model list: the server's `retry:` hint, backing off to this. */
const MAX_RECONNECT_MS = 30000;
/** A model-list connection silent this long (no event, no heartbeat) is reopened. */
const SILENCE_MS = 60000;

export class InferlessClient implements IInferlessApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  /** An absolute URL under the server's base_url. */
  url(...parts: string[]): string {
    return URLExt.join(this.settings.baseUrl, ...parts);
  }

  streamUrl(model: string): string {
    return this.url('inferless/v2/models', encodeURIComponent(model), 'generate_stream');
  }

  openApiUrl(): string {
    return this.url(OPENAPI_PATH);
  }

  async listModels(): Promise<ModelInfo[]> {
    const response = await this._request(this.url('inferless/api/models'), { method: 'GET' });
    return ((await response.json()) as ModelList).models;
  }

  async watchModels(
    onModels: (models: ModelInfo[]) => void,
    onLive: (live: boolean) => void,
    signal: AbortSignal
  ): Promise<void> {
    let delay = 2000;
    let failures = 0;
    while (!signal.aborted) {
      const connection = new AbortController();
      const stop = () => connection.abort();
      signal.addEventListener('abort', stop);
      let silence = setTimeout(stop, SILENCE_MS);
      const heard = () => {
        clearTimeout(silence);
        silence = setTimeout(stop, SILENCE_MS);
      };
      const parser = new SSEParser(event => {
        heard();
        onModels((JSON.parse(event.data) as ModelList).models);
      }, heard);
      try {
        const response = await this._request(this.url('inferless/api/models/events'), {
          method: 'GET',
          signal: connection.signal
        });
        onLive(true);
        failures = 0;
        await readEventStream(response.body!, parser);
      } catch (err) {
        if (err instanceof RequestError && err.kind === 'not_found') {
          throw err; // this server has no pushed model list
        }
        failures += 1;
      } finally {
        clearTimeout(silence);
        signal.removeEventListener('abort', stop);
      }
      if (signal.aborted) {
        break;
      }
      onLive(false);
      delay = parser.retry ?? delay;
      const wait = Math.min(delay * 2 ** Math.max(0, failures - 1), MAX_RECONNECT_MS);
      await abortableSleep(wait, signal);
    }
  }

  async generateStream(
    model: string,
    body: Record<string, unknown>,
    callbacks: IStreamCallbacks,
    signal: AbortSignal
  ): Promise<void> {
    const response = await this._request(this.streamUrl(model), {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      signal
    });
    const requestId = response.headers.get('X-Request-Id');
    callbacks.onOpen(requestId);
    await readResumableStream(response, {
      resumeUrl: requestId === null ? null : this.streamResourceUrl(requestId),
      request: (url, init) => ServerConnection.makeRequest(url, init, this.settings),
      callbacks,
      signal
    });
  }

  /** Where a stream is resumed (GET with Last-Event-ID) or cancelled (DELETE). */
  streamResourceUrl(requestId: string): string {
    return this.url('inferless/api/streams', encodeURIComponent(requestId));
  }

  async cancelStream(requestId: string): Promise<void> {
    await this._request(this.streamResourceUrl(requestId), { method: 'DELETE' });
  }

  /** makeRequest, turning a refusal into a RequestError with the server's message and kind. */
  private async _request(url: string, init: RequestInit): Promise<Response> {
    const response = await ServerConnection.makeRequest(url, init, this.settings);
    if (!response.ok) {
      throw await readRefusal(response);
    }
    return response;
  }
}
