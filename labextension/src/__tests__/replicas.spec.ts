import { countersText, replicaLines } from '../replicas';
import { Counters, ModelInfo } from '../types';
import { counters, echoModel } from './fakes';

/** A replica on kernel `kernelId`, with these counters (the others zero). */
function replica(
  kernelId: string,
  notebook: string | null,
  given: Partial<Counters>
): ModelInfo['replicas'][number] {
  return {
    kernel_id: kernelId,
    notebook,
    max_concurrency: 2,
    queue_size: 1,
    counters: counters(given)
  };
}

describe('replicas as the panel words them', () => {
  it('shows nothing more for a model one kernel serves', () => {
    const model = echoModel({ replicas: [replica('k1', 'a.ipynb', { requests: 2 })], refused: [] });
    expect(replicaLines(model)).toEqual([]);
    expect(replicaLines(echoModel())).toEqual([]);
  });

  it('counts the replicas and gives each its counters, and each refusal its reason', () => {
    const model = echoModel({
      counters: counters({ requests: 3, events: 30, active: 2, queued: 1 }),
      replicas: [
        replica('k1', 'a.ipynb', { requests: 2, events: 20, active: 2, queued: 1 }),
        replica('0123456789', null, { requests: 1, events: 10 })
      ],
      refused: [
        {
          kernel_id: 'k3',
          notebook: 'c.ipynb',
          reason: "input 'n' is INT32 in kernel k1, INT64 here"
        }
      ]
    });
    expect(replicaLines(model)).toEqual([
      '2 replicas, 1 refused',
      'a.ipynb: 2 requests · 20 events · 0 errors · 2 active · 1 queued',
      'kernel 01234567: 1 request · 10 events · 0 errors',
      "c.ipynb: refused, input 'n' is INT32 in kernel k1, INT64 here"
    ]);
    expect(countersText(model.counters)).toBe(
      '3 requests · 30 events · 0 errors · 2 active · 1 queued'
    );
  });
});
