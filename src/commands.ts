/**
 * The extension's commands: their ids, what they do, when they are enabled,
 * and the palette entries. The sidebar's toolbar buttons run these same
 * commands (by id), so a label, caption or enabled state is defined once, here.
 * The View menu items, the shortcut and the notebook toolbar button are declared
 * in schema/settings/plugin.json, by command id.
 */
import type { ILabShell, JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, Notification, showErrorMessage } from '@jupyterlab/apputils';

import { confirmClear } from './clearDialog';
import type { ISettingRegistry } from '@jupyterlab/settingregistry';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { Widget } from '@lumino/widgets';

import { exportFileName, toCsv, toJsonReport } from './export';
import { memoryIcon } from './icons';
import type { MemtrackModel } from './model';
import type { NotebookFollower } from './notebookFollower';
import type { SettingsState } from './settings';
import { PLUGIN_ID } from './tokens';

/** Command ids. The UI tests and the sidebar's buttons name commands by these. */
export namespace CommandIDs {
  export const openSidebar = 'memtrack:open-sidebar';
  export const toggleSidebar = 'memtrack:toggle-sidebar';
  export const toggleTracking = 'memtrack:toggle-tracking';
  export const clear = 'memtrack:clear';
  export const exportJson = 'memtrack:export-json';
  export const exportCsv = 'memtrack:export-csv';
  export const exportHtml = 'memtrack:export-html';
  export const toggleBadges = 'memtrack:toggle-badges';
}

/** The commands whose label or enabled state follows the current notebook's history. */
const STATEFUL_COMMANDS = [
  CommandIDs.toggleTracking,
  CommandIDs.clear,
  CommandIDs.exportJson,
  CommandIDs.exportCsv,
  CommandIDs.exportHtml
];

/** The commands in the palette, in this order (toggleSidebar is in the View menu). */
const PALETTE_COMMANDS = [
  CommandIDs.openSidebar,
  CommandIDs.toggleTracking,
  CommandIDs.clear,
  CommandIDs.exportJson,
  CommandIDs.exportCsv,
  CommandIDs.exportHtml,
  CommandIDs.toggleBadges
];

export interface ICommandsOptions {
  model: MemtrackModel;
  follower: NotebookFollower;
  /** The memory sidebar, already in the shell (only its id and visibility are used). */
  sidebar: Widget;
  settings: SettingsState;
  settingRegistry: ISettingRegistry | null;
  labShell: ILabShell | null;
  trans: TranslationBundle;
}

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

/** Add the commands, and keep their labels and enabled states in step with the model. */
export function addCommands(app: JupyterFrontEnd, options: ICommandsOptions): void {
  const { commands } = app;
  const { model, follower, sidebar, settings, settingRegistry, labShell, trans } = options;
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
    label: trans.__('Clear Memory History…'),
    caption: trans.__("Forget the active notebook's memory history, here and in the kernel"),
    isEnabled: () => model.records(current()).length > 0,
    execute: async () => {
      const key = current();
      if (key === null) {
        return;
      }
      // It cannot be undone, and it is the kernel's history too: ask first.
      const path = follower.panel(key)?.context.path ?? null;
      if (!(await confirmClear(path, model.records(key).length, trans))) {
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
    const text = format === 'json' ? toJsonReport(records, model.kernelInfo(key)) : toCsv(records);
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
  // The HTML report is the kernel's (python_ext/memtrack/reports/html.py): one renderer for the
  // sidebar and `%memtrack export`, so it covers the current kernel's history only.
  commands.addCommand(CommandIDs.exportHtml, {
    label: trans.__('Export Memory History (HTML)'),
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

  // Labels and enabled states follow the current notebook's state, once a frame at most: a
  // burst of records would otherwise re-render every menu and button once per record.
  let pending = false;
  model.changed.connect(() => {
    if (pending) {
      return;
    }
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      for (const id of STATEFUL_COMMANDS) {
        commands.notifyCommandChanged(id);
      }
    });
  });
  model.currentChanged.connect(() => commands.notifyCommandChanged());
}

/** Put the commands in the palette, under "Memory". */
export function addPaletteItems(palette: ICommandPalette, trans: TranslationBundle): void {
  const category = trans.__('Memory');
  for (const command of PALETTE_COMMANDS) {
    palette.addItem({ command, category });
  }
}
