/**
 * The panel's state: the served models, the selected one, its form values, and the
 * current run. The view renders it; `changed` says what changed. All server access
 * goes through an IInferlessApi.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { encodeValue, FieldValue, initialValue } from './form';
import { IStats, Run } from './run';
import { curlCommand, pythonSnippet } from './snippets';
import { IInferlessApi, ModelInfo, RequestError, StreamLostError } from './types';

export type Connection = 'connecting' | 'live' | 'reconnecting' | 'unavailable';

/** After Stop, the wait for the server to end the stream before hanging up (the rulebook's). */
export const STOP_TIMEOUT_MS = 5000;
export type Change = 'models' | 'connection' | 'selection' | 'run';

export interface IModelOptions {
  /** A clock in milliseconds (tests pass a fake one). */
  now?: () => number;
  /** Raw events kept for the log. */
  maxRaw?: number;
  /** After Stop, how long to wait for the server to end the stream before hanging up. */
  stopTimeoutMs?: number;
}

export class InferlessModel {
  constructor(
    private readonly _api: IInferlessApi,
    options: IModelOptions = {}
  ) {
    this._now = options.now ?? (() => performance.now());
    this._maxRaw = options.maxRaw ?? 1000;
    this._stopTimeoutMs = options.stopTimeoutMs ?? STOP_TIMEOUT_MS;
  }

  /** What changed: the view re-renders that part. */
  get changed(): ISignal<this, Change> {
    return this._changed;
  }

  /** The server's OpenAPI document (the panel links it). */
  get openApiUrl(): string {
    return this._api.openApiUrl();
  }

  get models(): readonly ModelInfo[] {
    return this._models;
  }

  get connection(): Connection {
    return this._connection;
  }

  get selected(): ModelInfo | null {
    return this._models.find(m => m.name === this._selectedName) ?? null;
  }

  get values(): ReadonlyMap<string, FieldValue> {
    return this._values;
  }

  /** The server's refusal of the last Run (a 4xx message), shown with the form. */
  get formError(): string | null {
    return this._formError;
  }

  get run(): Run | null {
    return this._run;
  }

  get running(): boolean {
    return this._run?.active ?? false;
  }

  get isDisposed(): boolean {
    return this._disposed.signal.aborted;
  }

  /** Follow the server's pushed model list until disposed. */
  async watch(): Promise<void> {
    this._setConnection('connecting');
    try {
      await this._api.watchModels(
        models => this.setModels(models),
        live => this._setConnection(live ? 'live' : 'reconnecting'),
        this._disposed.signal
      );
    } catch {
      // No pushed list on this server: show the list once; the Refresh button reloads it.
      this._setConnection('unavailable');
      await this.refresh();
    }
  }

  /** Load the model list once. */
  async refresh(): Promise<void> {
    try {
      this.setModels(await this._api.listModels());
    } catch (err) {
      console.warn('jupyter_inferless: could not list models', err);
    }
  }

  /** Replace the model list; keeps the selection (and its values) while the model stays. */
  setModels(models: ModelInfo[]): void {
    const before = this.selected;
    this._models = models;
    this._changed.emit('models');
    const after = this.selected;
    if (before && after && schemaKey(before) === schemaKey(after)) {
      return;
    }
    if (before || after) {
      this._resetValues();
      this._changed.emit('selection');
    }
  }

  /** Select a model by name (null: none). */
  select(name: string | null): void {
    if (name === this._selectedName) {
      return;
    }
    this._selectedName = name;
    this._resetValues();
    this._changed.emit('selection');
  }

  /** A form field changed. */
  setValue(name: string, value: FieldValue): void {
    this._values.set(name, value);
  }

  /** The JSON body for the current inputs. */
  body(): Record<string, unknown> {
    const body: Record<string, unknown> = {};
    for (const spec of this.selected?.schema.inputs ?? []) {
      const value = encodeValue(spec, this._values.get(spec.name) ?? initialValue(spec));
      if (value !== undefined) {
        body[spec.name] = value;
      }
    }
    return body;
  }

  curl(): string | null {
    const model = this.selected;
    return model ? curlCommand(this._api.streamUrl(model.name), this.body()) : null;
  }

  python(): string | null {
    const model = this.selected;
    return model ? pythonSnippet(this._api.streamUrl(model.name), this.body()) : null;
  }

  /**
   * Run the selected model with the current inputs; resolves when the stream ends. How it
   * ends decides the run's final state, by the rulebook (run.ts, finalState).
   */
  async start(): Promise<void> {
    const model = this.selected;
    if (!model || this.running) {
      return;
    }
    const run = new Run((this._run?.seq ?? 0) + 1, model.name, this._now(), this._maxRaw);
    const controller = new AbortController();
    this._run = run;
    this._abort = controller;
    this._formError = null;
    this._changed.emit('run');
    try {
      await this._api.generateStream(
        model.name,
        this.body(),
        {
          onOpen: requestId => {
            run.opened(requestId);
            if (run.state === 'stopping') {
              void this._cancel(run, controller);
            }
            this._changed.emit('run');
          },
          onEvent: event => {
            run.receive(event, this._now());
            this._changed.emit('run');
          },
          onReconnect: reconnecting => {
            run.reconnecting = reconnecting;
            run.resumes += reconnecting ? 0 : 1;
            this._changed.emit('run');
          }
        },
        controller.signal
      );
      run.finish('end', this._now()); // also after a Stop that came too late
    } catch (err) {
      if (err instanceof RequestError) {
        this._formError = err.message;
        run.finish('refused', this._now(), err.message);
      } else if (controller.signal.aborted) {
        run.finish('hang_up', this._now(), run.hangUpReason ?? 'the panel stopped reading');
      } else {
        const message =
          err instanceof StreamLostError
            ? err.message
            : `the connection was lost: ${(err as Error).message ?? err}`;
        run.finish('lost', this._now(), message);
      }
    } finally {
      run.reconnecting = false;
      run.endedAt ??= this._now();
      clearTimeout(this._stopTimer);
      if (this._abort === controller) {
        this._abort = null;
      }
      if (!this.isDisposed) {
        this._changed.emit('run');
      }
    }
  }

  /**
   * Stop the run: DELETE the stream (cancelling the model's loop; once its id is known)
   * and wait for its end.
   */
  async stop(): Promise<void> {
    const run = this._run;
    const controller = this._abort;
    if (!run || !controller || !run.stop()) {
      return;
    }
    this._changed.emit('run');
    // The server ends a cancelled stream in-band; hang up ourselves if it does not.
    const seconds = this._stopTimeoutMs / 1000;
    this._stopTimer = setTimeout(
      () => hangUp(run, controller, `the server had not ended the stream ${seconds} s after Stop`),
      this._stopTimeoutMs
    );
    if (run.requestId !== null) {
      await this._cancel(run, controller);
    }
  }

  /** Events, events per second, and time to the first event of the current run. */
  stats(now: number = this._now()): IStats {
    return this._run?.stats(now) ?? { events: 0, perSecond: 0, firstEventMs: null };
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._disposed.abort();
    this._abort?.abort();
    clearTimeout(this._stopTimer);
    Signal.clearData(this);
  }

  private async _cancel(run: Run, controller: AbortController): Promise<void> {
    try {
      await this._api.cancelStream(run.requestId!);
    } catch (err) {
      // It ended already, or the server is gone: stop reading.
      hangUp(run, controller, `could not cancel: ${(err as Error).message ?? err}`);
    }
  }

  private _resetValues(): void {
    this._values = new Map();
    this._formError = null;
    for (const spec of this.selected?.schema.inputs ?? []) {
      this._values.set(spec.name, initialValue(spec));
    }
  }

  private _setConnection(connection: Connection): void {
    if (connection !== this._connection) {
      this._connection = connection;
      this._changed.emit('connection');
    }
  }

  private readonly _now: () => number;
  private readonly _maxRaw: number;
  private readonly _stopTimeoutMs: number;
  private readonly _changed = new Signal<this, Change>(this);
  private readonly _disposed = new AbortController();
  private _models: ModelInfo[] = [];
  private _connection: Connection = 'connecting';
  private _selectedName: string | null = null;
  private _values = new Map<string, FieldValue>();
  private _formError: string | null = null;
  private _run: Run | null = null;
  private _abort: AbortController | null = null;
  private _stopTimer: ReturnType<typeof setTimeout> | undefined = undefined;
}

/** Stop reading the run's stream after Stop, saying why. */
function hangUp(run: Run, controller: AbortController, reason: string): void {
  run.hangUpReason ??= reason;
  controller.abort();
}

function schemaKey(model: ModelInfo): string {
  return `${model.kernel_id} ${JSON.stringify(model.schema.inputs)}`;
}
