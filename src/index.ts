/** Plugin wiring only: model, settings, notebook follower, sidebar, badges, commands. */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import { ICommandPalette, IThemeManager, Notification } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { BadgeUpdater, renderBadges } from './badges';
import { addCommands, addPaletteItems } from './commands';
import { HeadroomWarning } from './headroomWarning';
import { memoryIcon } from './icons';
import { resolveMetric } from './metric';
import { MemtrackModel } from './model';
import { NotebookFollower } from './notebookFollower';
import { followSettingRegistry, guardShare, SettingsState } from './settings';
import { MemtrackSidebar } from './sidebar';
import { IMemtrackModel, PLUGIN_ID } from './tokens';
import { VERSION } from './version';
import {
  MODULE_NAME,
  MODULE_VERSION,
  redrawWidgetPlots,
  setWidgetSettings,
  widgetExports
} from './widget';

const plugin: JupyterFrontEndPlugin<IMemtrackModel> = {
  id: PLUGIN_ID,
  description: 'Per-cell memory tracking: follows notebook kernels and shows a memory sidebar.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [
    ISettingRegistry,
    ICommandPalette,
    ILayoutRestorer,
    ILabShell,
    ITranslator,
    IThemeManager
  ],
  provides: IMemtrackModel,
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null,
    translator: ITranslator | null,
    themeManager: IThemeManager | null
  ): IMemtrackModel => {
    const trans = (translator ?? nullTranslator).load('jupyterlab-memtrack');
    const model = new MemtrackModel();
    const settings = new SettingsState();

    const follower = new NotebookFollower({
      notebooks,
      model,
      autoLoad: () => settings.value.autoLoad,
      autoTrack: () => settings.value.autoTrack,
      version: VERSION,
      leakThreshold: () => settings.value.leakThreshold,
      memoryGuard: () => guardShare(settings.value),
      cellMetadata: () => settings.value.cellMetadata
    });
    settings.changed.connect(() => follower.sendConfiguration());
    new HeadroomWarning({
      model,
      trans,
      threshold: () => settings.value.headroomWarning,
      units: () => settings.value.byteUnits,
      notify: message => Notification.warning(message, { autoClose: 10_000 })
    });

    const sidebar = new MemtrackSidebar({
      model,
      settings,
      commands: app.commands,
      translator: translator ?? undefined,
      leakRequests: key => follower.bridge(key),
      setMetric: metric => {
        settings.update({ metric });
        void settingRegistry?.set(PLUGIN_ID, 'metric', metric);
      },
      revealCell: (key, record) => {
        const found = follower.revealCell(key, record.cell_id);
        const panel = follower.panel(key);
        if (found && panel) {
          app.shell.activateById(panel.id);
        } else if (!found) {
          Notification.info(
            trans.__('Cell [%1] is no longer in the notebook.', record.execution_count ?? ' '),
            { autoClose: 3000 }
          );
        }
        return found;
      }
    });
    sidebar.id = 'jp-memtrack-sidebar';
    sidebar.title.icon = memoryIcon;
    sidebar.title.caption = trans.__('Memory (memtrack)');
    app.shell.add(sidebar, 'right', { rank: 650 });
    restorer?.add(sidebar, 'jp-memtrack-sidebar');
    themeManager?.themeChanged.connect(() => sidebar.refreshTheme());

    // Badges on the cells of every open notebook, redrawn at most once a frame.
    const badges = new BadgeUpdater(key => {
      const panel = follower.panel(key);
      if (panel) {
        const records = model.records(key);
        renderBadges(panel, records, {
          enabled: settings.value.badges,
          units: settings.value.byteUnits,
          // The sidebar's metric for this notebook: the badges show the same figure.
          metric: resolveMetric(settings.value.metric, records),
          trans
        });
      }
    });
    model.changed.connect((_, change) => {
      if (change.kind !== 'status' && change.kind !== 'remove') {
        badges.invalidate(change.key);
      }
    });
    settings.changed.connect(() => notebooks.forEach(panel => badges.invalidate(panel.id)));

    addCommands(app, {
      model,
      follower,
      sidebar,
      settings,
      settingRegistry,
      labShell,
      trans
    });
    if (palette) {
      addPaletteItems(palette, trans);
    }

    if (settingRegistry) {
      followSettingRegistry(settingRegistry, settings).catch(reason => {
        console.error('jupyterlab-memtrack: failed to load settings.', reason);
      });
    }
    return model;
  }
};

/** The view of `memtrack.widget()` in notebook outputs (ipywidgets' widget manager). */
const widgetPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-memtrack:widget',
  description: 'The memtrack.widget() view: memory plot and last cells in a notebook output.',
  autoStart: true,
  requires: [IJupyterWidgetRegistry],
  optional: [IThemeManager, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    registry: IJupyterWidgetRegistry,
    themeManager: IThemeManager | null,
    settingRegistry: ISettingRegistry | null
  ): void => {
    registry.registerWidget({ name: MODULE_NAME, version: MODULE_VERSION, exports: widgetExports });
    themeManager?.themeChanged.connect(() => redrawWidgetPlots());
    // The sidebar's settings (byteUnits, metric, maxPoints), followed live by every view.
    if (settingRegistry) {
      const settings = new SettingsState();
      settings.changed.connect((_, value) => setWidgetSettings(value));
      followSettingRegistry(settingRegistry, settings).catch(reason => {
        console.error('jupyterlab-memtrack: failed to load the widget settings.', reason);
      });
    }
  }
};

export default [plugin, widgetPlugin];
