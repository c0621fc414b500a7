/**
 * The panel: the model list, the form built from the selected model's INPUT_SCHEMA, and
 * the run's view. It renders an InferlessModel and calls it; it never talks to the server.
 */
import { Widget } from '@lumino/widgets';

import { button, h } from './dom';
import { controlKind, FieldValue } from './form';
import { Change, InferlessModel } from './model';
import { countersText, replicaLines, whereText } from './replicas';
import { RunView } from './runview';
import { InputSpec, ModelInfo, openApiLink } from './types';

export const PANEL_ID = 'jupyter-inferless-panel';

const CONNECTION_TEXT = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  unavailable: 'not live: use Refresh'
};

/** Copies text to the clipboard. */
export type Copier = (text: string) => Promise<void> | void;

export class InferlessPanel extends Widget {
  constructor(
    readonly model: InferlessModel,
    private readonly _copy: Copier
  ) {
    super();
    this.id = PANEL_ID;
    this.addClass('jp-Inferless');
    this._refresh.before(h('a', openApiLink(model.openApiUrl), 'OpenAPI'));
    this.node.append(this._header, this._list, this._detail);
    this._refresh.addEventListener('click', () => void this.model.refresh());
    this.model.changed.connect(this._onChange, this);
    this._renderModels();
    this._renderForm();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    cancelAnimationFrame(this._frame);
    clearInterval(this._ticker);
    this.model.dispose();
    super.dispose();
  }

  private _onChange(_: InferlessModel, change: Change): void {
    switch (change) {
      case 'models':
      case 'connection':
        this._renderModels();
        break;
      case 'selection':
        this._renderModels();
        this._renderForm();
        break;
      case 'run':
        this._scheduleRun();
        break;
    }
  }

  // -- the model list ---------------------------------------------------------

  private _renderModels(): void {
    this._connection.textContent = CONNECTION_TEXT[this.model.connection];
    this._connection.dataset.state = this.model.connection;
    const models = this.model.models;
    const selected = this.model.selected?.name;
    this._list.replaceChildren(
      ...models.map(model => h('li', {}, this._modelRow(model, model.name === selected)))
    );
    if (models.length === 0) {
      this._list.append(
        h(
          'li',
          { class: 'jp-Inferless-empty' },
          'No models are served. In a notebook: ',
          h('code', {}, '%load_ext jupyter_inferless'),
          ', then ',
          h('code', {}, '%inferless serve MyModel'),
          '.'
        )
      );
    }
  }

  private _modelRow(model: ModelInfo, selected: boolean): HTMLElement {
    const [replicas, ...perReplica] = replicaLines(model);
    const where = replicas ?? whereText(model.kernel_id, model.notebook);
    const row = h(
      'button',
      {
        type: 'button',
        class: 'jp-Inferless-model',
        'aria-pressed': String(selected),
        'data-model': model.name,
        title: `kernel ${model.kernel_id}`
      },
      h(
        'span',
        { class: 'jp-Inferless-modelTitle' },
        h('span', { class: 'jp-Inferless-modelName' }, model.name),
        model.streaming ? h('span', { class: 'jp-Inferless-badge' }, 'streaming') : ''
      ),
      h('span', { class: 'jp-Inferless-modelWhere' }, where),
      h(
        'span',
        { class: 'jp-Inferless-modelMeta' },
        `${model.status} · ${deviceText(model.device)}`
      ),
      h('span', { class: 'jp-Inferless-counters' }, countersText(model.counters)),
      ...perReplica.map(line =>
        h('span', { class: 'jp-Inferless-counters jp-Inferless-replica' }, line)
      )
    );
    row.addEventListener('click', () => this.model.select(model.name));
    return row;
  }

  // -- the form ---------------------------------------------------------------

  private _renderForm(): void {
    const model = this.model.selected;
    this._form = null;
    if (!model) {
      this._detail.replaceChildren();
      return;
    }
    const fields = model.schema.inputs.map((spec, index) => this._field(spec, index));
    const run = button('Run', 'jp-mod-accept', 'submit');
    const stop = button('Stop', 'jp-mod-warn');
    const curl = button('Copy as curl');
    const python = button('Copy as Python');
    const copied = h('span', { class: 'jp-Inferless-copied', 'aria-live': 'polite' });
    const error = h('div', { class: 'jp-Inferless-formError', role: 'alert', hidden: '' });
    const form = h(
      'form',
      { class: 'jp-Inferless-form', novalidate: '' },
      h('h3', {}, `Inputs of ${model.name}`),
      !model.schema.declared
        ? h('p', { class: 'jp-Inferless-hint' }, 'This model declares no INPUT_SCHEMA.')
        : '',
      ...fields,
      error,
      h('div', { class: 'jp-Inferless-actions' }, run, stop),
      h('div', { class: 'jp-Inferless-actions' }, curl, python, copied)
    ) as HTMLFormElement;
    form.addEventListener('submit', event => {
      event.preventDefault();
      void this.model.start();
    });
    stop.addEventListener('click', () => void this.model.stop());
    const copy = async (text: string | null, what: string) => {
      if (text !== null) {
        await this._copy(text);
        copied.textContent = `Copied ${what}.`;
      }
    };
    curl.addEventListener('click', () => void copy(this.model.curl(), 'the curl command'));
    python.addEventListener('click', () => void copy(this.model.python(), 'the Python code'));
    this._form = { run, stop, error };
    this._detail.replaceChildren(form, this._runView.node);
    this._renderRun();
  }

  private _field(spec: InputSpec, index: number): HTMLElement {
    const id = `${PANEL_ID}-input-${index}`;
    const kind = controlKind(spec);
    const value = this.model.values.get(spec.name);
    const input = h('input', { id, name: spec.name }) as HTMLInputElement;
    if (kind === 'checkbox') {
      input.type = 'checkbox';
      input.checked = value === true;
    } else {
      input.type = kind === 'text' ? 'text' : 'number';
      if (kind === 'integer') {
        input.step = '1';
      } else if (kind === 'number') {
        input.step = 'any';
      }
      input.value = typeof value === 'string' ? value : '';
      input.className = 'jp-mod-styled';
    }
    if (spec.required) {
      input.required = true;
      input.setAttribute('aria-required', 'true');
    }
    input.addEventListener('input', () => {
      const next: FieldValue = kind === 'checkbox' ? input.checked : input.value;
      this.model.setValue(spec.name, next);
    });
    const shape = `${spec.datatype} [${spec.shape.join(', ')}]`;
    // The label is the input's name alone; the required mark sits beside it.
    const label = h(
      'span',
      { class: 'jp-Inferless-label' },
      h('label', { for: id }, spec.name),
      spec.required
        ? h(
            'span',
            { class: 'jp-Inferless-required', title: 'required', 'aria-hidden': 'true' },
            '*'
          )
        : ''
    );
    return h(
      'div',
      { class: `jp-Inferless-field jp-Inferless-${kind}` },
      ...(kind === 'checkbox' ? [input, label] : [label, input]),
      h('span', { class: 'jp-Inferless-hint' }, spec.required ? `${shape}, required` : shape)
    );
  }

  // -- the run ----------------------------------------------------------------

  private _scheduleRun(): void {
    if (!this._frame) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this._renderRun();
      });
    }
  }

  private _renderRun(): void {
    const run = this.model.run;
    const running = this.model.running;
    if (this._form) {
      this._form.run.disabled = running;
      this._form.stop.disabled = !running || run?.state === 'stopping';
      this._form.error.hidden = this.model.formError === null;
      this._form.error.textContent = this.model.formError ?? '';
    }
    if (running && !this._ticker) {
      this._ticker = window.setInterval(() => this._renderRun(), 250); // events/s moves on
    } else if (!running && this._ticker) {
      clearInterval(this._ticker);
      this._ticker = 0;
    }
    this._runView.render(run, this.model.stats());
    // For scripts and tests: which run is shown, and how it stands.
    this.node.dataset.runSeq = String(run?.seq ?? 0);
    this.node.dataset.runState = run?.state ?? '';
  }

  private readonly _connection = h('span', { class: 'jp-Inferless-connection' });
  private readonly _refresh = button('Refresh', 'jp-Inferless-refresh');
  private readonly _header = h(
    'header',
    { class: 'jp-Inferless-header' },
    h('h2', {}, 'Inferless'),
    this._connection,
    this._refresh
  );
  private readonly _list = h('ul', { class: 'jp-Inferless-models', 'aria-label': 'Served models' });
  private readonly _detail = h('div', { class: 'jp-Inferless-detail' });
  private readonly _runView = new RunView();
  private _form: { run: HTMLButtonElement; stop: HTMLButtonElement; error: HTMLElement } | null =
    null;
  private _frame = 0;
  private _ticker = 0;
}

/** "cpu", or "cuda:0 (its name)". */
function deviceText(device: ModelInfo['device']): string {
  return device.name !== device.device ? `${device.device} (${device.name})` : device.device;
}
