import { controlKind, encodeValue, initialValue } from '../form';
import { InferlessModel } from '../model';
import { RequestError, StreamLostError } from '../types';
import { counters, echoModel, FakeApi, flush, setup } from './fakes';

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
    api.watchError = new RequestError(
      'no endpoint GET /inferless/api/models/events',
      404,
      'not_found'
    );
    api.listed = [echoModel()];
    const model = new InferlessModel(api);
    await model.watch();
    expect(model.connection).toBe('unavailable');
    expect(model.models).toHaveLength(1);
    model.dispose();
  });

  it('keeps the selection and typed values while counters change', () => {
    const { model } = setup();
    model.setValue('prompt', 'typed');
    model.setModels([echoModel({ counters: counters({ requests: 1, events: 25 }) })]);
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
    expect(model.run?.state).toBe('connecting');
    expect(api.last.body).toEqual({ prompt: 'hello', count: 25, shout: true });
    api.last.open();
    expect(model.run?.state).toBe('streaming');
    clock.t = 1040;
    for (let i = 0; i < 25; i++) {
      api.last.send({ OUT: `t${i} ` });
    }
    expect(model.run?.text).toBe(Array.from({ length: 25 }, (_, i) => `t${i} `).join(''));
    clock.t = 1500;
    api.last.end();
    await done;
    expect(model.run?.state).toBe('done');
    // (events - 1) / seconds from the first event to the end
    expect(model.stats()).toEqual({ events: 25, perSecond: 24 / 0.46, firstEventMs: 40 });
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
    api.last.send({ error: 'RuntimeError: boom', kind: 'model_error' });
    api.last.end();
    await done;
    expect(model.run?.state).toBe('failed');
    expect(model.run?.error).toBe('RuntimeError: boom');
    expect(model.run?.errorKind).toBe('model_error');
    expect(model.stats().events).toBe(1);
  });

  it('shows a refusal (4xx) with the form', async () => {
    const { api, model } = setup();
    const done = model.start();
    api.last.fail(
      new RequestError("input 'count': 99999999999 is out of range for INT32", 400, 'input_error')
    );
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
    expect(model.run?.state).toBe('streaming');
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
      api.last.send({ error: 'cancelled: the request was cancelled', kind: 'cancelled' });
      api.last.end();
    };
    const done = model.start();
    api.last.open('rid-7');
    api.last.send({ OUT: 'a' });
    await model.stop();
    await done;
    expect(api.cancelled).toEqual(['rid-7']);
    expect(model.run?.state).toBe('cancelled');
    expect(model.run?.error).toBe('cancelled: the request was cancelled');
  });

  it('cancels as soon as the request id is known', async () => {
    const { api, model } = setup();
    const done = model.start();
    void model.stop();
    expect(model.run?.state).toBe('stopping');
    expect(api.cancelled).toEqual([]);
    api.last.open('rid-8');
    expect(model.run?.state).toBe('stopping');
    await flush();
    expect(api.cancelled).toEqual(['rid-8']);
    api.last.send({ error: 'cancelled: by DELETE', kind: 'cancelled' });
    api.last.end();
    await done;
    expect(model.run?.state).toBe('cancelled');
  });

  it.each([
    {
      when: 'the server does not end the stream',
      options: { stopTimeoutMs: 10 },
      cancel: (): void => undefined,
      error: 'the server had not ended the stream 0.01 s after Stop'
    },
    {
      when: 'the DELETE fails',
      options: {},
      cancel: (): void => {
        throw new Error('503 Service Unavailable');
      },
      error: 'could not cancel: 503 Service Unavailable'
    }
  ])('hangs up when $when', async ({ options, cancel, error }) => {
    const { api, model } = setup(options);
    api.onCancel = cancel;
    const done = model.start();
    api.last.open();
    await model.stop();
    await done;
    expect(api.last.signal.aborted).toBe(true);
    expect(model.run?.state).toBe('cancelled');
    expect(model.run?.error).toBe(error);
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
    const model = new InferlessModel(new FakeApi());
    expect(model.curl()).toBeNull();
    model.dispose();
  });
});
