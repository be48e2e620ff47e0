/** Plugin wiring only: the model, the notebook follower, the sidebar, commands. */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

import { MemtrackModel } from './model';
import { MemtrackSidebar } from './sidebar';
import { CommandIDs, IMemtrackModel, PLUGIN_ID } from './tokens';
import { NotebookFollower } from './tracker';

import memoryIconSvg from '../style/icons/memory.svg';

// Keep in step with package.json; sent to the kernel in the hello message.
const VERSION = '0.1.0';

const memoryIcon = new LabIcon({ name: 'jupyterlab-memtrack:memory', svgstr: memoryIconSvg });

const plugin: JupyterFrontEndPlugin<IMemtrackModel> = {
  id: PLUGIN_ID,
  description: 'Per-cell memory tracking: follows notebook kernels and shows a memory sidebar.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry, ICommandPalette, ILayoutRestorer, ILabShell, ITranslator],
  provides: IMemtrackModel,
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null,
    translator: ITranslator | null
  ): IMemtrackModel => {
    const trans = (translator ?? nullTranslator).load('jupyterlab-memtrack');
    const model = new MemtrackModel();
    let autoLoad = true;

    const follower = new NotebookFollower({
      notebooks,
      model,
      autoLoad: () => autoLoad,
      version: VERSION
    });

    const sidebar = new MemtrackSidebar({
      model,
      translator: translator ?? undefined,
      revealCell: (key, record) => {
        const found = follower.revealCell(key, record.cell_id);
        if (found) {
          const panel = notebooks.find(p => NotebookFollower.keyOf(p) === key);
          if (panel) {
            app.shell.activateById(panel.id);
          }
        }
        return found;
      }
    });
    sidebar.id = 'jp-memtrack-sidebar';
    sidebar.title.icon = memoryIcon;
    sidebar.title.caption = trans.__('Memory (memtrack)');
    app.shell.add(sidebar, 'right', { rank: 650 });
    restorer?.add(sidebar, 'jp-memtrack-sidebar');

    app.commands.addCommand(CommandIDs.openSidebar, {
      label: trans.__('Show Memory Sidebar'),
      caption: trans.__('Open the per-cell memory history of the active notebook'),
      icon: memoryIcon,
      execute: () => {
        if (labShell) {
          labShell.expandRight();
        }
        app.shell.activateById(sidebar.id);
      }
    });
    palette?.addItem({ command: CommandIDs.openSidebar, category: trans.__('Memory') });

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const update = () => {
            autoLoad = settings.get('autoLoad').composite as boolean;
          };
          update();
          settings.changed.connect(update);
        })
        .catch(reason => {
          console.error('jupyterlab-memtrack: failed to load settings.', reason);
        });
    }
    return model;
  }
};

export default plugin;
