/** Plugin wiring only: model, settings, notebook follower, sidebar, badges, commands. */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import {
  ICommandPalette,
  IThemeManager,
  Notification,
  showErrorMessage
} from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

import { BadgeUpdater, renderBadges } from './badges';
import { exportFileName, toCsv, toJsonReport } from './export';
import { MemtrackModel } from './model';
import { followSettingRegistry, SettingsState } from './settings';
import { MemtrackSidebar } from './sidebar';
import { CommandIDs, IMemtrackModel, PLUGIN_ID } from './tokens';
import { NotebookFollower } from './tracker';
import {
  MODULE_NAME,
  MODULE_VERSION,
  redrawWidgetPlots,
  setWidgetSettings,
  widgetExports
} from './widget';

import memoryIconSvg from '../style/icons/memory.svg';

// Keep in step with package.json; sent to the kernel in the hello message.
const VERSION = '0.1.0';

const memoryIcon = new LabIcon({ name: 'jupyterlab-memtrack:memory', svgstr: memoryIconSvg });

/** Let the browser save `text` as a file. */
function download(text: string, fileName: string, mime: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

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
    const { commands } = app;
    const model = new MemtrackModel();
    const settings = new SettingsState();

    const follower = new NotebookFollower({
      notebooks,
      model,
      autoLoad: () => settings.value.autoLoad,
      autoTrack: () => settings.value.autoTrack,
      version: VERSION,
      leakThreshold: () => settings.value.leakThreshold,
      cellMetadata: () => settings.value.cellMetadata
    });
    settings.changed.connect(() => follower.sendConfiguration());

    const sidebar = new MemtrackSidebar({
      model,
      settings,
      commands,
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
        renderBadges(panel, model.records(key), {
          enabled: settings.value.badges,
          units: settings.value.byteUnits,
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

    const current = () => model.currentKey;
    const connected = () => model.status(current()).status === 'connected';

    commands.addCommand(CommandIDs.openSidebar, {
      label: trans.__('Show Memory Sidebar'),
      caption: trans.__('Open the per-cell memory history of the active notebook'),
      icon: memoryIcon,
      execute: () => {
        labShell?.expandRight();
        app.shell.activateById(sidebar.id);
      }
    });
    commands.addCommand(CommandIDs.toggleSidebar, {
      label: trans.__('Memory Sidebar'),
      caption: trans.__('Show or hide the memory sidebar'),
      isToggled: () => sidebar.isVisible,
      execute: () => {
        if (sidebar.isVisible && labShell) {
          labShell.collapseRight();
        } else {
          labShell?.expandRight();
          app.shell.activateById(sidebar.id);
        }
      }
    });
    commands.addCommand(CommandIDs.toggleTracking, {
      label: () =>
        model.tracking(current()) === 'off'
          ? trans.__('Track Every Cell')
          : trans.__('Stop Tracking Every Cell'),
      caption: trans.__('Record every cell of the active notebook (light mode: time and RSS)'),
      isEnabled: connected,
      isToggleable: true,
      isToggled: () => model.tracking(current()) !== 'off',
      execute: async () => {
        const bridge = follower.bridge(current());
        if (!bridge) {
          return;
        }
        const next = model.tracking(current()) === 'off' ? 'light' : 'off';
        try {
          await bridge.setTracking(next);
        } catch (reason) {
          Notification.error(trans.__('memtrack: could not change tracking: %1', String(reason)));
        }
        commands.notifyCommandChanged(CommandIDs.toggleTracking);
      }
    });
    commands.addCommand(CommandIDs.clear, {
      label: trans.__('Clear Memory History'),
      caption: trans.__("Forget the active notebook's memory history, here and in the kernel"),
      isEnabled: () => model.records(current()).length > 0,
      execute: () => {
        const key = current();
        if (key === null) {
          return;
        }
        follower.bridge(key)?.resetKernelHistory();
        model.clear(key);
      }
    });
    const exportAs = (format: 'json' | 'csv') => {
      const key = current();
      // Runs read back from cell metadata are summaries without a kernel seq: not exported.
      const records = model.records(key).filter(record => !record.saved);
      const path = follower.panel(key)?.context.path ?? 'notebook.ipynb';
      const text =
        format === 'json' ? toJsonReport(records, model.kernelInfo(key)) : toCsv(records);
      download(
        text,
        exportFileName(path, format),
        format === 'json' ? 'application/json' : 'text/csv'
      );
    };
    commands.addCommand(CommandIDs.exportJson, {
      label: trans.__('Export Memory History (JSON)'),
      caption: trans.__("Download the active notebook's memory history as a JSON report"),
      isEnabled: () => model.records(current()).length > 0,
      execute: () => exportAs('json')
    });
    commands.addCommand(CommandIDs.exportCsv, {
      label: trans.__('Export Memory History (CSV)'),
      caption: trans.__("Download the active notebook's memory history as CSV"),
      isEnabled: () => model.records(current()).length > 0,
      execute: () => exportAs('csv')
    });
    // The HTML report is the kernel's (python_ext/memtrack/report.py): one renderer for the
    // sidebar and `%memtrack export`, so it covers the current kernel's history only.
    commands.addCommand(CommandIDs.exportHtml, {
      label: trans.__('Export HTML report'),
      caption: trans.__(
        "Download the active notebook's memory history as an offline HTML report (rendered by the kernel)"
      ),
      isEnabled: () => model.records(current()).length > 0,
      execute: async () => {
        const key = current();
        const title = trans.__('memtrack: could not export the HTML report');
        const bridge = follower.bridge(key);
        const { status, detail } = model.status(key);
        if (!bridge || status !== 'connected') {
          const why = detail ? ` (${detail})` : '';
          await showErrorMessage(
            title,
            trans.__(
              'The HTML report is rendered by the kernel, and the memtrack kernel extension is not connected: %1%2. Run %load_ext memtrack in the notebook (or enable autoLoad) and try again.',
              status,
              why
            )
          );
          return;
        }
        const path = follower.panel(key)?.context.path ?? 'notebook.ipynb';
        try {
          const result = await bridge.exportReport('html');
          download(result.content, exportFileName(path, 'html'), 'text/html');
        } catch (reason) {
          await showErrorMessage(title, reason instanceof Error ? reason.message : String(reason));
        }
      }
    });
    commands.addCommand(CommandIDs.toggleBadges, {
      label: trans.__('Show Memory Badges on Cells'),
      caption: trans.__("Show each tracked cell's memory change as a badge on the cell"),
      isToggleable: true,
      isToggled: () => settings.value.badges,
      execute: async () => {
        const badges = !settings.value.badges;
        settings.update({ badges });
        await settingRegistry?.set(PLUGIN_ID, 'badges', badges);
        commands.notifyCommandChanged(CommandIDs.toggleBadges);
      }
    });
    // Labels and enabled states follow the current notebook's state (once a frame at most).
    let commandsPending = false;
    model.changed.connect(() => {
      if (commandsPending) {
        return;
      }
      commandsPending = true;
      requestAnimationFrame(() => {
        commandsPending = false;
        for (const id of [
          CommandIDs.toggleTracking,
          CommandIDs.clear,
          CommandIDs.exportJson,
          CommandIDs.exportCsv,
          CommandIDs.exportHtml
        ]) {
          commands.notifyCommandChanged(id);
        }
      });
    });
    model.currentChanged.connect(() => commands.notifyCommandChanged());

    const category = trans.__('Memory');
    for (const command of [
      CommandIDs.openSidebar,
      CommandIDs.toggleTracking,
      CommandIDs.clear,
      CommandIDs.exportJson,
      CommandIDs.exportCsv,
      CommandIDs.exportHtml,
      CommandIDs.toggleBadges
    ]) {
      palette?.addItem({ command, category });
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
