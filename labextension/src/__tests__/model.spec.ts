import { controlKind, encodeValue, initialValue } from '../form';
import { InferlessModel } from '../model';
import { outputText } from '../run';
import {
  IInferlessApi,
  IModelInfo,
  IStreamCallbacks,
  RequestError,
  StreamLostError
} from '../types';

/** A stream the test drives: open it, send events, end or fail it. */
class FakeStream {
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

class FakeApi implements IInferlessApi {
  streams: FakeStream[] = [];
  cancelled: string[] = [];
  listed: IModelInfo[] = [];
  push: ((models: IModelInfo[]) => void) | null = null;
  live: ((live: boolean) => void) | null = null;
  watchError: unknown = null;
  onCancel: (requestId: string) => void = () => undefined;

  streamUrl(model: string): string {
    return `http://host/base/inferless/v2/models/${model}/generate_stream`;
  }
  async listModels(): Promise<IModelInfo[]> {
    return this.listed;
  }
  watchModels(
    onModels: (models: IModelInfo[]) => void,
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

function echoModel(overrides: Partial<IModelInfo> = {}): IModelInfo {
  return {
    name: 'echo',
    kernel_id: 'k1',
    notebook: 'panel.ipynb',
    status: 'ready',
    device: { device: 'cpu', name: 'cpu' },
    streaming: true,
    schema: {
      inputs: [
        { name: 'prompt', datatype: 'STRING', shape: [1], required: true, example: ['hello'] },
        { name: 'count', datatype: 'INT32', shape: [1], required: false, example: [25] },
        { name: 'temperature', datatype: 'FP32', shape: [1], required: false },
        { name: 'shout', datatype: 'BOOL', shape: [1], required: false, example: [true] }
      ],
      streaming: true
    },
    counters: { requests: 0, events: 0, errors: 0 },
    ...overrides
  };
}

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

function setup(options = {}): { api: FakeApi; model: InferlessModel; clock: { t: number } } {
  const api = new FakeApi();
  const clock = { t: 1000 };
  const model = new InferlessModel(api, { now: () => clock.t, ...options });
  model.setModels([echoModel()]);
  model.select('echo');
  return { api, model, clock };
}

describe('form helpers', () => {
  it('picks a control per datatype', () => {
    const kinds = echoModel().schema.inputs.map(controlKind);
    expect(kinds).toEqual(['text', 'integer', 'number', 'checkbox']);
    expect(controlKind({ name: 'xs', datatype: 'INT64', shape: [-1], required: true })).toBe(
      'text'
    );
  });

  it('prefills examples', () => {
    expect(echoModel().schema.inputs.map(initialValue)).toEqual(['hello', '25', '', true]);
    expect(
      initialValue({ name: 'xs', datatype: 'FP32', shape: [2], required: true, example: [1, 2] })
    ).toBe('[1,2]');
  });

  it('encodes values by type and leaves out empty optional inputs', () => {
    const [prompt, count, temperature, shout] = echoModel().schema.inputs;
    expect(encodeValue(prompt, 'hi')).toBe('hi');
    expect(encodeValue(prompt, '')).toBe(''); // required: sent, the server decides
    expect(encodeValue(count, '7')).toBe(7);
    expect(encodeValue(count, '')).toBeUndefined();
    expect(encodeValue(temperature, '0.5')).toBe(0.5);
    expect(encodeValue(shout, false)).toBe(false);
    expect(
      encodeValue({ name: 'xs', datatype: 'INT64', shape: [-1], required: true }, '[1, 2]')
    ).toEqual([1, 2]);
  });

  it('shows a lone string output as text, anything else as JSON lines', () => {
    expect(outputText({ OUT: 'tok' })).toBe('tok');
    expect(outputText({ OUT: 1 })).toBe('{"OUT":1}\n');
    expect(outputText({ a: 'x', b: 'y' })).toBe('{"a":"x","b":"y"}\n');
  });
});

describe('InferlessModel: the model list', () => {
  it('follows the pushed list and reports the connection', async () => {
    const api = new FakeApi();
    const model = new InferlessModel(api);
    const changes: string[] = [];
    model.changed.connect((_, change) => changes.push(change));
    void model.watch();
    expect(model.connection).toBe('connecting');
    api.live!(true);
    api.push!([echoModel()]);
    expect(model.connection).toBe('live');
    expect(model.models.map(m => m.name)).toEqual(['echo']);
    api.live!(false);
    expect(model.connection).toBe('reconnecting');
    expect(changes).toEqual(['connection', 'models', 'connection']);
    model.dispose();
  });

  it('falls back to one listing when the server has no pushed list', async () => {
    const api = new FakeApi();
    api.watchError = new RequestError('not found', 404);
    api.listed = [echoModel()];
    const model = new InferlessModel(api);
    await model.watch();
    expect(model.connection).toBe('unavailable');
    expect(model.models).toHaveLength(1);
  });

  it('keeps the selection and typed values while counters change', () => {
    const { model } = setup();
    model.setValue('prompt', 'typed');
    model.setModels([echoModel({ counters: { requests: 1, events: 25, errors: 0 } })]);
    expect(model.selected?.counters?.events).toBe(25);
    expect(model.values.get('prompt')).toBe('typed');
  });

  it('resets the form when the schema changes, and clears it when the model goes', () => {
    const { model } = setup();
    model.setValue('prompt', 'typed');
    const changed = echoModel();
    changed.schema.inputs = changed.schema.inputs.slice(0, 1);
    model.setModels([changed]);
    expect(model.values.get('prompt')).toBe('hello');
    expect([...model.values.keys()]).toEqual(['prompt']);
    model.setModels([]);
    expect(model.selected).toBeNull();
    model.setModels([echoModel()]);
    expect(model.selected?.name).toBe('echo'); // served again under the same name
  });
});

describe('InferlessModel: running', () => {
  it('builds the body from the form', () => {
    const { model } = setup();
    model.setValue('count', '3');
    model.setValue('shout', false);
    expect(model.body()).toEqual({ prompt: 'hello', count: 3, shout: false });
  });

  it('appends text as events arrive and measures them', async () => {
    const { api, model, clock } = setup();
    const done = model.start();
    expect(model.run?.state).toBe('running');
    expect(api.last.body).toEqual({ prompt: 'hello', count: 25, shout: true });
    api.last.open();
    clock.t = 1040;
    for (let i = 0; i < 25; i++) {
      api.last.send({ OUT: `t${i} ` });
    }
    expect(model.run?.text).toBe(Array.from({ length: 25 }, (_, i) => `t${i} `).join(''));
    clock.t = 1500;
    api.last.end();
    await done;
    expect(model.run?.state).toBe('done');
    expect(model.stats()).toEqual({ events: 25, perSecond: 50, firstEventMs: 40 });
    expect(model.run?.raw[0]).toBe('id: 0\ndata: {"OUT":"t0 "}');
    expect(model.running).toBe(false);
  });

  it('keeps a bounded raw log', async () => {
    const { api, model } = setup({ maxRaw: 3 });
    const done = model.start();
    for (let i = 0; i < 5; i++) {
      api.last.send({ OUT: String(i) });
    }
    api.last.end();
    await done;
    expect(model.run?.raw).toHaveLength(3);
    expect(model.run?.rawDropped).toBe(2);
    expect(model.run?.text).toBe('01234');
  });

  it('shows an in-band error as an error', async () => {
    const { api, model } = setup();
    const done = model.start();
    api.last.send({ OUT: 'a' });
    api.last.send({ error: 'RuntimeError: boom' });
    api.last.end();
    await done;
    expect(model.run?.state).toBe('failed');
    expect(model.run?.error).toBe('RuntimeError: boom');
    expect(model.stats().events).toBe(1);
  });

  it('shows a refusal (4xx) with the form', async () => {
    const { api, model } = setup();
    const done = model.start();
    api.last.fail(new RequestError("input 'count': 99999999999 is out of range for INT32", 400));
    await done;
    expect(model.run?.state).toBe('refused');
    expect(model.formError).toContain("input 'count'");
    const again = model.start();
    expect(model.formError).toBeNull();
    api.last.end();
    await again;
  });

  it('reports a lost connection as a failure', async () => {
    const { api, model } = setup();
    const done = model.start();
    api.last.fail(new TypeError('network error'));
    await done;
    expect(model.run?.state).toBe('failed');
    expect(model.run?.error).toContain('network error');
  });

  it('shows a dropped connection being resumed, and that it was', async () => {
    const { api, model } = setup();
    const done = model.start();
    api.last.send({ OUT: 'a' });
    api.last.callbacks.onReconnect!(true);
    expect(model.run?.reconnecting).toBe(true);
    expect(model.run?.state).toBe('running');
    api.last.callbacks.onReconnect!(false);
    api.last.send({ OUT: 'b' });
    api.last.end();
    await done;
    expect(model.run?.state).toBe('done');
    expect(model.run?.reconnecting).toBe(false);
    expect(model.run?.resumes).toBe(1);
    expect(model.run?.text).toBe('ab');
  });

  it('shows a stream that could not be resumed as a failure, in its own words', async () => {
    const { api, model } = setup();
    const done = model.start();
    api.last.callbacks.onReconnect!(true);
    const message = 'the connection dropped and the stream could not be resumed: gone';
    api.last.fail(new StreamLostError(message));
    await done;
    expect(model.run?.state).toBe('failed');
    expect(model.run?.error).toBe(message);
    expect(model.run?.reconnecting).toBe(false);
    expect(model.formError).toBeNull();
  });

  it('does not start a second run while one streams', async () => {
    const { api, model } = setup();
    const done = model.start();
    await model.start();
    expect(api.streams).toHaveLength(1);
    api.last.end();
    await done;
  });
});

describe('InferlessModel: stopping', () => {
  it('cancels with DELETE and ends on the in-band cancellation', async () => {
    const { api, model } = setup();
    api.onCancel = () => {
      api.last.send({ error: 'cancelled: the request was cancelled' });
      api.last.end();
    };
    const done = model.start();
    api.last.open('rid-7');
    api.last.send({ OUT: 'a' });
    await model.stop();
    await done;
    expect(api.cancelled).toEqual(['rid-7']);
    expect(model.run?.state).toBe('stopped');
    expect(model.run?.error).toBeNull();
  });

  it('cancels as soon as the request id is known', async () => {
    const { api, model } = setup();
    const done = model.start();
    void model.stop();
    expect(api.cancelled).toEqual([]);
    api.last.open('rid-8');
    await flush();
    expect(api.cancelled).toEqual(['rid-8']);
    api.last.end();
    await done;
    expect(model.run?.state).toBe('stopped');
  });

  it('hangs up when the server does not end the stream', async () => {
    const { api, model } = setup({ stopTimeoutMs: 10 });
    const done = model.start();
    api.last.open();
    await model.stop();
    await done;
    expect(api.last.signal.aborted).toBe(true);
    expect(model.run?.state).toBe('stopped');
  });

  it('stops reading when disposed', async () => {
    const { api, model } = setup();
    const done = model.start();
    model.dispose();
    await done;
    expect(api.last.signal.aborted).toBe(true);
  });
});

describe('InferlessModel: copying', () => {
  it('copies the current inputs with the base_url-aware URL', () => {
    const { model } = setup();
    model.setValue('prompt', 'hi there');
    expect(model.curl()).toContain("'http://host/base/inferless/v2/models/echo/generate_stream'");
    expect(model.curl()).toContain(`-d '{"prompt":"hi there","count":25,"shout":true}'`);
    expect(model.python()).toContain('inputs = {"prompt": "hi there", "count": 25, "shout": True}');
  });

  it('has nothing to copy without a selection', () => {
    const api = new FakeApi();
    expect(new InferlessModel(api).curl()).toBeNull();
  });
});
