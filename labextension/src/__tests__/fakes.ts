/** Fakes for the panel model's tests: a server the test drives, and a served model. */
import { InferlessModel } from '../model';
import { Counters, IInferlessApi, IStreamCallbacks, ModelInfo } from '../types';

/** A stream the test drives: open it, send events, end or fail it. */
export class FakeStream {
  constructor(
    readonly model: string,
    readonly body: Record<string, unknown>,
    readonly callbacks: IStreamCallbacks,
    readonly signal: AbortSignal,
    private readonly settle: { resolve: () => void; reject: (err: unknown) => void }
  ) {
    signal.addEventListener('abort', () => settle.reject(new Error('aborted')));
  }
  private id = 0;
  open(requestId = 'rid-1'): void {
    this.callbacks.onOpen(requestId);
  }
  send(output: unknown): void {
    this.callbacks.onEvent({
      id: String(this.id++),
      event: 'message',
      data: JSON.stringify(output)
    });
  }
  end(): void {
    this.settle.resolve();
  }
  fail(err: unknown): void {
    this.settle.reject(err);
  }
}

export class FakeApi implements IInferlessApi {
  streams: FakeStream[] = [];
  cancelled: string[] = [];
  listed: ModelInfo[] = [];
  push: ((models: ModelInfo[]) => void) | null = null;
  live: ((live: boolean) => void) | null = null;
  watchError: unknown = null;
  onCancel: (requestId: string) => void = () => undefined;

  streamUrl(model: string): string {
    return `http://host/base/inferless/v2/models/${model}/generate_stream`;
  }
  openApiUrl(): string {
    return 'http://host/base/inferless/api/openapi.json';
  }
  async listModels(): Promise<ModelInfo[]> {
    return this.listed;
  }
  watchModels(
    onModels: (models: ModelInfo[]) => void,
    onLive: (live: boolean) => void,
    signal: AbortSignal
  ): Promise<void> {
    if (this.watchError) {
      return Promise.reject(this.watchError);
    }
    this.push = onModels;
    this.live = onLive;
    return new Promise(resolve => signal.addEventListener('abort', () => resolve()));
  }
  generateStream(
    model: string,
    body: Record<string, unknown>,
    callbacks: IStreamCallbacks,
    signal: AbortSignal
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      this.streams.push(new FakeStream(model, body, callbacks, signal, { resolve, reject }));
    });
  }
  async cancelStream(requestId: string): Promise<void> {
    this.cancelled.push(requestId);
    this.onCancel(requestId);
  }
  get last(): FakeStream {
    return this.streams[this.streams.length - 1];
  }
}

/** Counters: zero but the ones given. */
export function counters(given: Partial<Counters> = {}): Counters {
  return { requests: 0, events: 0, errors: 0, active: 0, queued: 0, ...given };
}

export function echoModel(overrides: Partial<ModelInfo> = {}): ModelInfo {
  const device = { device: 'cpu', name: 'cpu' };
  return {
    name: 'echo',
    class: 'Echo',
    source: 'panel.ipynb',
    kernel_id: 'k1',
    notebook: 'panel.ipynb',
    status: 'ready',
    notes: [],
    device,
    max_concurrency: 1,
    queue_size: 0,
    streaming: true,
    schema: {
      inputs: [
        { name: 'prompt', datatype: 'STRING', shape: [1], required: true, example: ['hello'] },
        { name: 'count', datatype: 'INT32', shape: [1], required: false, example: [25] },
        { name: 'temperature', datatype: 'FP32', shape: [1], required: false },
        { name: 'shout', datatype: 'BOOL', shape: [1], required: false, example: [true] }
      ],
      streaming: true,
      declared: true
    },
    counters: counters(),
    replicas: [
      {
        kernel_id: 'k1',
        notebook: 'panel.ipynb',
        device,
        max_concurrency: 1,
        queue_size: 0,
        counters: counters()
      }
    ],
    refused: [],
    ...overrides
  };
}

export const flush = () => new Promise(resolve => setTimeout(resolve, 0));

export function setup(options = {}): { api: FakeApi; model: InferlessModel; clock: { t: number } } {
  const api = new FakeApi();
  const clock = { t: 1000 };
  const model = new InferlessModel(api, { now: () => clock.t, ...options });
  model.setModels([echoModel()]);
  model.select('echo');
  return { api, model, clock };
}
