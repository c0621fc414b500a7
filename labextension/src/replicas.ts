/**
 * How the panel words a model's counters and replicas. Pure: no DOM, so Jest tests it.
 */
import { plural } from './dom';
import { Counters, ModelInfo } from './types';

/** "3 requests · 40 events · 0 errors · 1 active". */
export function countersText(counters: Counters): string {
  return [
    plural(counters.requests, 'request'),
    plural(counters.events, 'event'),
    plural(counters.errors, 'error'),
    ...(counters.active ? [`${counters.active} active`] : []),
    ...(counters.queued ? [`${counters.queued} queued`] : [])
  ].join(' · ');
}

/** Where a kernel is: its notebook, else the start of its id. */
export function whereText(kernelId: string, notebook?: string | null): string {
  return notebook || `kernel ${kernelId.slice(0, 8)}`;
}

/**
 * "2 replicas" (and the refused kernels), then one line per replica and refusal; none
 * for a model one kernel serves alone.
 */
export function replicaLines(model: ModelInfo): string[] {
  const { replicas, refused } = model;
  if (replicas.length < 2 && refused.length === 0) {
    return [];
  }
  const summary =
    plural(replicas.length, 'replica') + (refused.length ? `, ${refused.length} refused` : '');
  return [
    summary,
    ...replicas.map(r => `${whereText(r.kernel_id, r.notebook)}: ${countersText(r.counters)}`),
    ...refused.map(r => `${whereText(r.kernel_id, r.notebook)}: refused, ${r.reason}`)
  ];
}
