/**
 * The question Clear asks before it acts: clearing forgets the notebook's
 * history in the sidebar and in the kernel (`%memtrack reset`: its records
 * and the spooled earlier sessions), and nothing brings it back.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

/** The dialog's body: plain text (the notebook's path is the user's). */
function clearBody(path: string | null, count: number, trans: TranslationBundle): Widget {
  const body = new Widget();
  body.addClass('jp-Memtrack-clearDialog');
  const what = document.createElement('p');
  what.textContent = path
    ? trans._n(
        'Forget the %1 tracked execution of %2?',
        'Forget the %1 tracked executions of %2?',
        count,
        path
      )
    : trans._n('Forget the %1 tracked execution?', 'Forget the %1 tracked executions?', count);
  const kernel = document.createElement('p');
  kernel.textContent = trans.__(
    "This clears the kernel's memory history too (like %1), earlier kernel sessions included. It cannot be undone; export it first to keep it.",
    '%memtrack reset'
  );
  body.node.append(what, kernel);
  return body;
}

/** Ask whether to clear; true when the user confirmed. */
export async function confirmClear(
  path: string | null,
  count: number,
  trans: TranslationBundle
): Promise<boolean> {
  const result = await showDialog({
    title: trans.__('Clear the memory history?'),
    body: clearBody(path, count, trans),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label: trans.__('Clear') })
    ],
    defaultButton: 0
  });
  return result.button.accept;
}
