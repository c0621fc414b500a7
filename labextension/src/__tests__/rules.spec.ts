/**
 * The panel against the stream views' rulebook, tests/stream_views.json: the same cases
 * tests/test_stream_views.py runs against the inline view.
 */
import { readFileSync } from 'fs';
import * as path from 'path';

import rulebook from '../../../tests/stream_views.json';
import { STOP_TIMEOUT_MS } from '../model';
import {
  DEFAULT_ERROR_KIND,
  End,
  eventsPerSecond,
  FINAL_STATES,
  finalState,
  inBandError,
  Run,
  STATES,
  TEXT_KEY
} from '../run';
import { RequestError, StreamLostError } from '../types';
import { setup } from './fakes';

type Schema = { $ref?: string; enum?: string[]; properties?: Record<string, Schema> };

/** The kinds the server's OpenAPI document (the committed snapshot) lists for an in-band
 * error: ErrorKind, the type of `InBandError['kind']` in the generated types. */
function documentedKinds(): string[] | undefined {
  const file = path.join(__dirname, '..', 'generated', 'openapi.json');
  const schemas = JSON.parse(readFileSync(file, 'utf-8')).components.schemas;
  const resolve = (schema: Schema): Schema =>
    schema.$ref ? resolve(schemas[schema.$ref.split('/').pop()!]) : schema;
  return resolve(resolve(schemas.InBandError).properties!.kind).enum;
}

/** A run fed `payloads` as the server's events, one ms apart. */
function runOf(payloads: unknown[]): Run {
  const run = new Run(1, 'echo', 0, 1000);
  run.opened('rid');
  payloads.forEach((payload, i) => {
    run.receive({ id: `rid:${i}`, event: 'message', data: JSON.stringify(payload) }, i + 1);
  });
  return run;
}

describe('the rulebook', () => {
  it('names the states, the text key, the default kind and the stop timeout the panel uses', () => {
    expect([...STATES]).toEqual(rulebook.states);
    expect([...FINAL_STATES]).toEqual(rulebook.final_states);
    expect(TEXT_KEY).toBe(rulebook.text_key);
    expect(DEFAULT_ERROR_KIND).toBe(rulebook.default_error_kind);
    expect(rulebook.error_kinds).toContain(DEFAULT_ERROR_KIND);
    expect(STOP_TIMEOUT_MS).toBe(rulebook.stop_timeout_seconds * 1000);
  });

  it('has the kinds the server documents', () => {
    expect(documentedKinds()).toEqual(rulebook.error_kinds);
  });

  it('has a case for every end and every kind', () => {
    const cases = rulebook.final_state_cases;
    expect(new Set(cases.map(c => c.end))).toEqual(new Set(Object.keys(rulebook.ends)));
    expect(new Set(cases.filter(c => c.kind !== null).map(c => c.kind))).toEqual(
      new Set(rulebook.error_kinds)
    );
  });
});

describe('the text rule', () => {
  it.each(rulebook.text_cases.map(c => [c.name, c] as const))('%s', (_, c) => {
    const run = runOf(c.events);
    expect(run.text).toBe(c.text);
    expect(run.tableValues).toEqual(c.table);
    expect(run.events).toBe(c.events.length);
    expect(run.state).toBe('streaming');
  });

  it('shows the text of an event that is not JSON in the table', () => {
    const run = new Run(1, 'echo', 0, 10);
    run.receive({ id: '0', event: 'message', data: 'not json' }, 1);
    expect(run.text).toBe('');
    expect(run.tableValues).toEqual({ value: 'not json' });
  });
});

describe('in-band errors', () => {
  it.each(rulebook.in_band_cases.map(c => [JSON.stringify(c.data), c] as const))('%s', (_, c) => {
    const expected = c.error === null ? null : { error: c.error, kind: c.kind };
    expect(inBandError(c.data)).toEqual(expected);
    const run = runOf([{ OUT: 'a' }, c.data]);
    if (c.error === null) {
      expect(run.events).toBe(2);
      expect(run.error).toBeNull();
      expect(run.active).toBe(true);
    } else {
      expect(run.events).toBe(1); // the error is not an output
      expect(run.error).toBe(c.error);
      expect(run.errorKind).toBe(c.kind);
      expect(run.state).toBe(finalState('error', c.kind, false));
      // nothing counts after the end
      run.receive({ id: 'rid:9', event: 'message', data: '{"OUT":"late"}' }, 10);
      expect(run.text).toBe('a');
    }
  });
});

describe('events/s', () => {
  it.each(rulebook.rate_cases.map(c => [JSON.stringify(c), c] as const))('%s', (_, c) => {
    const first = c.first_event_at === null ? null : c.first_event_at * 1000;
    const rate = eventsPerSecond(c.events, first, c.until * 1000);
    if (c.per_second === null) {
      expect(rate).toBeNull();
    } else {
      expect(rate).toBeCloseTo(c.per_second, 9);
    }
  });

  it('is measured to now while streaming, to the end once final', () => {
    const run = new Run(1, 'echo', 0, 10);
    run.opened('rid');
    run.receive({ id: '0', event: 'message', data: '{"OUT":"a"}' }, 1000);
    run.receive({ id: '1', event: 'message', data: '{"OUT":"b"}' }, 1500);
    expect(run.stats(3000).perSecond).toBe(0.5);
    run.finish('end', 2000);
    expect(run.stats(9000)).toEqual({ events: 2, perSecond: 1, firstEventMs: 1000 });
  });
});

describe('final states', () => {
  const TEXT = 'cancelled: by DELETE'; // a text that must not decide anything: only kind does

  it.each(rulebook.final_state_cases.map(c => [JSON.stringify(c), c] as const))(
    '%s',
    async (_, c) => {
      const end = c.end as End;
      expect(finalState(end, c.kind, c.stop)).toBe(c.state);

      // The same, end to end through the panel's model and a fake server.
      const { api, model } = setup({ stopTimeoutMs: 50 });
      const done = model.start();
      const stream = api.last;
      if (end === 'refused') {
        if (c.stop) {
          await model.stop();
          expect(model.run?.state).toBe('stopping');
        }
        stream.fail(new RequestError("input 'count': bad", 400, 'input_error'));
      } else {
        stream.open('rid-1');
        stream.send({ OUT: 'a' });
        if (c.stop) {
          await model.stop();
          expect(model.run?.state).toBe('stopping');
          expect(api.cancelled).toEqual(['rid-1']);
        }
        if (end === 'end') {
          stream.end();
        } else if (end === 'error') {
          stream.send(c.kind === null ? { error: TEXT } : { error: TEXT, kind: c.kind });
          stream.end();
        } else if (end === 'lost') {
          stream.fail(new StreamLostError('the connection dropped and could not be resumed'));
        } // hang_up: the server never ends it, the stop timeout does
      }
      await done;
      const run = model.run!;
      expect(run.state).toBe(c.state);
      expect(model.running).toBe(false);
      if (end === 'error') {
        expect(run.error).toBe(TEXT);
        expect(run.errorKind).toBe(c.kind ?? DEFAULT_ERROR_KIND);
      } else if (end === 'end') {
        expect(run.error).toBeNull();
      } else {
        expect(run.error).toEqual(expect.any(String));
      }
    }
  );
});
