/**
 * The JupyterLab plugin: an "Inferless" panel in the left sidebar.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Clipboard } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';

import { InferlessModel } from './model';
import { InferlessPanel } from './panel';
import { InferlessClient } from './request';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <path class="jp-icon3" fill="#616161" d="M4 5h10v2H4zm0 6h16v2H4zm0 6h12v2H4zM17 3l4 3-4 3z"/>
</svg>`;

export const inferlessIcon = new LabIcon({ name: 'jupyter-inferless:panel', svgstr: ICON_SVG });

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-inferless:panel',
  description: 'Served notebook models: a form from INPUT_SCHEMA and live SSE streams.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    const model = new InferlessModel(new InferlessClient(app.serviceManager.serverSettings));
    const panel = new InferlessPanel(model, text => Clipboard.copyToSystem(text));
    panel.title.icon = inferlessIcon;
    panel.title.caption = 'Inferless';
    app.shell.add(panel, 'left', { rank: 900 });
    void model.watch();
    app.commands.addCommand('jupyter-inferless:open', {
      label: 'Show the Inferless panel',
      describedBy: { args: { type: 'object', properties: {} } },
      execute: () => app.shell.activateById(panel.id)
    });
  }
};

export default plugin;
