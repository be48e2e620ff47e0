/** The extension's icons, shared by the sidebar's tab and the commands. */
import { LabIcon } from '@jupyterlab/ui-components';

import memoryIconSvg from '../style/icons/memory.svg';

export const memoryIcon = new LabIcon({
  name: 'jupyterlab-memtrack:memory',
  svgstr: memoryIconSvg
});
