import { countersText, replicaLines } from '../replicas';
import { echoModel } from './fakes';

describe('replicas as the panel words them', () => {
  it('shows nothing more for a model one kernel serves', () => {
    const model = echoModel({
      replicas: [{ kernel_id: 'k1', notebook: 'a.ipynb', counters: { requests: 2 } }],
      refused: []
    });
    expect(replicaLines(model)).toEqual([]);
    expect(replicaLines(echoModel())).toEqual([]); // a server that lists no replicas
  });

  it('counts the replicas and gives each its counters, and each refusal its reason', () => {
    const model = echoModel({
      counters: { requests: 3, events: 30, errors: 0, active: 2, queued: 1 },
      replicas: [
        {
          kernel_id: 'k1',
          notebook: 'a.ipynb',
          counters: { requests: 2, events: 20, active: 2, queued: 1 }
        },
        { kernel_id: '0123456789', notebook: null, counters: { requests: 1, events: 10 } }
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
