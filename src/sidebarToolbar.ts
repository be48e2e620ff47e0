/**
 * The sidebar's toolbar: the metric selector (it drives the table, the plot
 * and the cell badges together) and short buttons for the main commands,
 * whose state (enabled, toggled, caption) follows the commands.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';

import { CommandIDs } from './commands';
import { choiceLabel, METRIC_CHOICES, MetricChoice, metricMeaning } from './metric';
import { Metric } from './record';

export class SidebarToolbar {
  readonly node = document.createElement('div');

  constructor(
    trans: TranslationBundle,
    commands: CommandRegistry,
    setMetric: (metric: MetricChoice) => void
  ) {
    this._commands = commands;
    this._trans = trans;
    this.node.className = 'jp-Memtrack-toolbar';
    this.node.setAttribute('role', 'toolbar');
    this.node.setAttribute('aria-label', trans.__('Memory tracking'));
    this._metricSelect.className = 'jp-Memtrack-metric';
    this._metricSelect.setAttribute(
      'aria-label',
      trans.__('Memory metric of the table, plot and badges')
    );
    for (const choice of METRIC_CHOICES) {
      const option = document.createElement('option');
      option.value = choice;
      option.textContent = choiceLabel(choice, choice === 'auto' ? 'rss' : choice, trans);
      this._metricSelect.append(option);
    }
    this._metricSelect.addEventListener('change', () => {
      setMetric(this._metricSelect.value as MetricChoice);
    });
    this.node.append(this._metricSelect);
    // Short labels: the sidebar is narrow. Captions (tooltips) come from the commands.
    const shortLabels: [string, string][] = [
      [CommandIDs.toggleTracking, trans.__('Track all cells')],
      [CommandIDs.clear, trans.__('Clear')],
      [CommandIDs.exportJson, trans.__('JSON')],
      [CommandIDs.exportCsv, trans.__('CSV')],
      [CommandIDs.exportHtml, trans.__('HTML')]
    ];
    for (const [id, label] of shortLabels) {
      const button = document.createElement('button');
      button.className = 'jp-Memtrack-button';
      button.dataset.command = id;
      button.textContent = label;
      button.addEventListener('click', () => void this._commands.execute(id));
      this._buttons.set(id, button);
      this.node.append(button);
    }
  }

  /** The selector's element (tests, focus). */
  get metricSelect(): HTMLSelectElement {
    return this._metricSelect;
  }

  /**
   * Show the choice the settings say; `auto` is what 'auto' resolves to in this history,
   * which the Auto option names whatever is chosen.
   */
  showMetric(choice: MetricChoice, auto: Metric): void {
    const trans = this._trans;
    const shown = choice === 'auto' ? auto : choice;
    this._metricSelect.options[0].textContent = choiceLabel('auto', auto, trans);
    this._metricSelect.value = choice;
    this._metricSelect.title = metricMeaning(shown, trans);
    this._metricSelect.dataset.metric = shown;
  }

  /** Follow the commands' state. */
  renderButtons(): void {
    for (const [id, button] of this._buttons) {
      if (!this._commands.hasCommand(id)) {
        button.hidden = true;
        continue;
      }
      button.hidden = false;
      button.title = this._commands.caption(id) || this._commands.label(id);
      button.setAttribute('aria-label', this._commands.label(id));
      button.disabled = !this._commands.isEnabled(id);
      if (this._commands.isToggleable(id)) {
        button.setAttribute('aria-pressed', String(this._commands.isToggled(id)));
      }
    }
  }

  private _commands: CommandRegistry;
  private _trans: TranslationBundle;
  private _buttons = new Map<string, HTMLButtonElement>();
  private _metricSelect = document.createElement('select');
}
