/**
 * What the server sends, and the interface the panel's model uses to reach it.
 *
 * Nothing here imports JupyterLab, so the model and its tests run without it. The server's
 * shapes are aliases of the types generated from its OpenAPI document.
 */
import type { components } from './generated/openapi';

/** The server's OpenAPI document, under its base_url. */
export const OPENAPI_PATH = 'inferless/api/openapi.json';

/** The attributes of the panel's link to the OpenAPI document: a new tab, no opener. */
export function openApiLink(url: string): Record<string, string> {
  return {
    href: url,
    target: '_blank',
    rel: 'noopener noreferrer',
    class: 'jp-Inferless-openapi',
    title: 'The OpenAPI 3.1 document of these endpoints and the served models'
  };
}

/** The schemas of the server's OpenAPI document (src/generated: `jlpm generate:types`). */
type Schemas = components['schemas'];

/** One input of a model's INPUT_SCHEMA, as `GET inferless/api/models` lists it. */
export type InputSpec = Schemas['InputSpec'];

/** A model's (or one replica's) counters; `active` runs or waits, `queued` waits. */
export type Counters = Schemas['Counters'];

/**
 * One served model, as `GET inferless/api/models` (and its event stream) lists it: the
 * first replica's description, the replicas' counters summed, each replica and refusal.
 */
export type ModelInfo = Schemas['ModelInfo'];

/** The body of `GET inferless/api/models`, and the data of each of its pushed events. */
export type ModelList = Schemas['ModelList'];

/** A stream's last event when it failed after its 200: `{"error": TEXT, "kind": KIND}`. */
export type InBandError = Schemas['InBandError'];

/** Why a run ended with an in-band error: the kinds the document lists for its `kind`. */
export type ErrorKind = InBandError['kind'];

/** The body of every refusal (an answer that is not 2xx): `{"error": TEXT, "kind": KIND}`. */
export type Refusal = Schemas['Error'];

/**
 * Why the server refused a request: every kind a refusal's body may name. The panel decides
 * by it, never by the status or the text.
 */
export type RefusalKind = Schemas['ErrorKind'];

/** One server-sent event. */
export interface ISSEEvent {
  id: string;
  event: string;
  data: string;
}

/** What a stream reports while it is read. */
export interface IStreamCallbacks {
  /** The server accepted the request; `requestId` is its X-Request-Id (for DELETE). */
  onOpen(requestId: string | null): void;
  onEvent(event: ISSEEvent): void;
  /**
   * The connection dropped mid-stream (`true`: reconnecting with Last-Event-ID), or it
   * was resumed (`false`). Not called when it cannot be resumed: the stream rejects.
   */
  onReconnect?(reconnecting: boolean): void;
}

/** The server, as the panel's model sees it. request.ts implements it. */
export interface IInferlessApi {
  /** Where a model's stream is POSTed (absolute, with the server's base_url). */
  streamUrl(model: string): string;
  /** The server's OpenAPI document of every endpoint and served model. */
  openApiUrl(): string;
  /** The model list once. */
  listModels(): Promise<ModelInfo[]>;
  /**
   * Follow the pushed model list until `signal` aborts, reconnecting after failures.
   * `onLive(false)` reports a lost connection. Rejects with a RequestError when the
   * server has no such endpoint (a refusal of kind `not_found`), which ends the watch.
   */
  watchModels(
    onModels: (models: ModelInfo[]) => void,
    onLive: (live: boolean) => void,
    signal: AbortSignal
  ): Promise<void>;
  /**
   * POST the inputs and read the SSE stream until it ends, resuming it after a dropped
   * connection. Rejects with a RequestError carrying the server's message when the
   * request is refused (4xx/5xx before the stream), with a StreamLostError when a dropped
   * stream cannot be resumed.
   */
  generateStream(
    model: string,
    body: Record<string, unknown>,
    callbacks: IStreamCallbacks,
    signal: AbortSignal
  ): Promise<void>;
  /** DELETE the stream: cancels the request down to the model's loop. */
  cancelStream(requestId: string): Promise<void>;
}

/**
 * A refused request: the server's message, the body's `kind` (what decisions go by; null
 * when the body names none, as a proxy's answer does), and the HTTP status (for people).
 */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly kind: RefusalKind | null
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/**
 * A stream whose connection dropped and could not be resumed; `kind` is that of the
 * refusal that ended the reconnecting (`events_evicted`, `not_found`, ...), else null.
 */
export class StreamLostError extends Error {
  constructor(
    message: string,
    readonly kind: RefusalKind | null = null
  ) {
    super(message);
    this.name = 'StreamLostError';
  }
}
