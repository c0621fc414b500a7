/**
 * The run's view: its state (and whether its connection was resumed), stats (events,
 * events/s, time to first event), the text as it arrives (only the new text is appended),
 * the table of latest values, the error (or why it was cancelled), and a toggled raw
 * event log.
 */
import { h } from './dom';
import { IStats, Run, RunState } from './run';

const STATE_TEXT: Record<RunState, string> = {
  connecting: 'Connecting…',
  streaming: 'Streaming…',
  stopping: 'Stopping…',
  done: 'Done',
  cancelled: 'Cancelled',
  failed: 'Failed',
  refused: 'Refused'
};

/** The run's status, stats, text and raw event log; appends only the new text. */
export class RunView {
  readonly node: HTMLElement;

  constructor() {
    this._rawToggle.type = 'checkbox';
    this._rawToggle.addEventListener('change', () => {
      this._raw.hidden = !this._rawToggle.checked;
      this._renderRaw();
    });
    this.node = h(
      'section',
      { class: 'jp-Inferless-run', hidden: '' },
      h('div', { class: 'jp-Inferless-runHeader' }, this._state, this._resumed, this._stats),
      this._error,
      this._note,
      this._output,
      this._table,
      h('label', { class: 'jp-Inferless-rawLabel' }, this._rawToggle, ' Raw event log'),
      this._raw
    );
  }

  render(run: Run | null, stats: IStats): void {
    this.node.hidden = run === null || run.state === 'refused';
    if (run === null) {
      return;
    }
    if (run !== this._run) {
      this._run = run;
      this._shown = 0;
      this._output.textContent = '';
      this._tableShown = null;
      this._tableEvents = -1; // render the new run's table, or hide the old one
    }
    if (run.text.length > this._shown) {
      this._output.append(run.text.slice(this._shown));
      this._shown = run.text.length;
      this._output.scrollTop = this._output.scrollHeight;
    }
    this._output.hidden = run.text === '' && run.tableValues !== null;
    if (run.tableValues !== this._tableShown || run.events !== this._tableEvents) {
      this._renderTable(run.tableValues, run.events);
    }
    const reconnecting = run.reconnecting && run.state === 'streaming';
    this._state.textContent = reconnecting ? 'Reconnecting…' : STATE_TEXT[run.state];
    this._state.dataset.state = run.state;
    this._state.dataset.reconnecting = String(reconnecting);
    this._resumed.hidden = run.resumes === 0;
    this._resumed.textContent =
      run.resumes === 1
        ? 'resumed after a dropped connection'
        : `resumed after ${run.resumes} dropped connections`;
    this._stats.replaceChildren(
      stat('events', String(stats.events), ' events · '),
      stat('rate', rateText(stats.perSecond), ' events/s · '),
      'first event ',
      stat('first', stats.firstEventMs === null ? '–' : `${Math.round(stats.firstEventMs)} ms`)
    );
    const failed = run.error !== null && run.state === 'failed';
    this._error.hidden = !failed;
    this._error.textContent = failed ? `Error: ${run.error}` : '';
    const cancelled = run.error !== null && run.state === 'cancelled';
    this._note.hidden = !cancelled;
    this._note.textContent = cancelled ? (run.error ?? '') : '';
    this._renderRaw();
  }

  /** The latest values as a key/value table, captioned with the event count. */
  private _renderTable(values: Record<string, unknown> | null, events: number): void {
    this._tableShown = values;
    this._tableEvents = events;
    this._table.hidden = values === null;
    if (values === null) {
      this._table.replaceChildren();
      return;
    }
    this._table.replaceChildren(
      h('caption', {}, `latest of ${events} events`),
      ...Object.entries(values).map(([key, value]) =>
        h(
          'tr',
          { 'data-key': key },
          h('th', { scope: 'row' }, key),
          h('td', {}, typeof value === 'string' ? value : JSON.stringify(value))
        )
      )
    );
  }

  private _renderRaw(): void {
    const run = this._run;
    if (this._raw.hidden || !run) {
      return;
    }
    const dropped = run.rawDropped ? `(${run.rawDropped} earlier events not kept)\n\n` : '';
    this._raw.textContent = dropped + run.raw.join('\n\n');
  }

  private _run: Run | null = null;
  private _shown = 0;
  private _tableShown: Record<string, unknown> | null = null;
  private _tableEvents = 0;
  private readonly _state = h('span', { class: 'jp-Inferless-state' });
  private readonly _resumed = h('span', { class: 'jp-Inferless-resumed', hidden: '' });
  private readonly _stats = h('span', { class: 'jp-Inferless-stats' });
  private readonly _error = h('div', { class: 'jp-Inferless-error', role: 'alert', hidden: '' });
  private readonly _note = h('div', { class: 'jp-Inferless-note', hidden: '' });
  private readonly _table = h('table', {
    class: 'jp-Inferless-latest',
    'aria-label': 'Latest values',
    hidden: ''
  });
  private readonly _output = h('pre', { class: 'jp-Inferless-output', 'aria-label': 'Output' });
  private readonly _rawToggle = h('input', { class: 'jp-Inferless-rawToggle' }) as HTMLInputElement;
  private readonly _raw = h('pre', { class: 'jp-Inferless-raw', hidden: '' });
}

/** events/s as shown: '–' when not measurable yet. */
function rateText(perSecond: number | null): string {
  return perSecond === null ? '–' : perSecond.toFixed(perSecond < 10 ? 1 : 0);
}

function stat(name: string, value: string, after = ''): DocumentFragment {
  const fragment = document.createDocumentFragment();
  fragment.append(h('span', { 'data-stat': name }, value), after);
  return fragment;
}
