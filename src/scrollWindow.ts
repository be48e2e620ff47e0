/**
 * The arithmetic of a windowed list (the cell table, the variables section):
 * which rows of a long list are in view of the element that scrolls it, given
 * one measured row height, and the scroll events that call for another window.
 * The list itself keeps its rows and spacers.
 */

/**
 * Where a navigation key moves the focus in a list of `count` rows from row
 * `index` (Up/Down, PageUp/PageDown by `page` rows, Home/End); null for other keys.
 * The caller clamps to the list.
 */
export function moveTarget(key: string, index: number, count: number, page: number): number | null {
  switch (key) {
    case 'ArrowDown':
      return index + 1;
    case 'ArrowUp':
      return index - 1;
    case 'PageDown':
      return index + page;
    case 'PageUp':
      return index - page;
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
    default:
      return null;
  }
}

export interface IScrollWindowOptions {
  /** Rows rendered beyond each edge of the view, so that scrolling shows no gap. */
  overscan: number;
  /** Rows rendered when the view's size is unknown (hidden, or no layout). */
  unmeasured: number;
  /** The view scrolled or the row height changed (at most once a frame): render the window. */
  onChange: () => void;
}

export class ScrollWindow {
  constructor(options: IScrollWindowOptions) {
    this._overscan = options.overscan;
    this._unmeasured = options.unmeasured;
    this._onChange = options.onChange;
  }

  get container(): HTMLElement | null {
    return this._container;
  }

  /** The height of one row; 0 until measured. */
  get rowHeight(): number {
    return this._rowHeight;
  }

  /** Whether the list is long enough to window (scroll events are followed only then). */
  enabled = false;

  /** The element that scrolls the rows. */
  setContainer(container: HTMLElement | null): void {
    this._container?.removeEventListener('scroll', this._onScroll);
    this._container = container;
    container?.addEventListener('scroll', this._onScroll, { passive: true });
  }

  dispose(): void {
    this.setContainer(null);
    cancelAnimationFrame(this._frame);
  }

  /** Measure the row height again at the next measure() (after a full render: fonts may change). */
  invalidate(): void {
    this._remeasure = true;
  }

  /**
   * Rows are one height each (no wrapping), so one rendered row gives every
   * row's height; a changed height renders the window again on the next frame.
   */
  measure(row: Element | undefined): void {
    if (!this._remeasure) {
      return;
    }
    const height = row?.getBoundingClientRect().height ?? 0;
    if (height > 0) {
      this._remeasure = false;
      if (height !== this._rowHeight) {
        this._rowHeight = height;
        // The window was a guess: render the rows really in view.
        requestAnimationFrame(() => this._onChange());
      }
    }
  }

  /** How many rows a window holds: the rows in view plus the overscan each side. */
  size(): number {
    const container = this._container;
    if (!container || this._rowHeight === 0 || container.clientHeight === 0) {
      return this._unmeasured;
    }
    return Math.ceil(container.clientHeight / this._rowHeight) + 2 * this._overscan;
  }

  /** How many rows one page (PageUp, PageDown) moves. */
  page(): number {
    return Math.max(1, this.size() - 2 * this._overscan - 1);
  }

  /**
   * The rows [start, end) of `count` that the container shows, plus the overscan.
   * `rows` is the element the rows are laid out in (its top is row 0's); `indexAt`
   * maps a pixel offset below it to a row where rows are not all one height.
   * Unmeasured: a window of `unmeasured` rows from `currentStart`.
   */
  range(
    count: number,
    currentStart: number,
    rows: HTMLElement | null,
    indexAt?: (y: number, rowHeight: number) => number
  ): [number, number] {
    const container = this._container;
    if (!container || !rows || this._rowHeight === 0 || container.clientHeight === 0) {
      const start = Math.min(currentStart, Math.max(0, count - this._unmeasured));
      return [start, Math.min(count, start + this._unmeasured)];
    }
    // Row i sits i row heights below the top of `rows` (a spacer stands for rows above).
    const offset = container.getBoundingClientRect().top - rows.getBoundingClientRect().top;
    const first = indexAt ? indexAt(offset, this._rowHeight) : Math.floor(offset / this._rowHeight);
    const shown = Math.ceil(container.clientHeight / this._rowHeight);
    const start = Math.max(0, Math.min(first - this._overscan, count - 1));
    return [start, Math.max(start, Math.min(count, first + shown + this._overscan))];
  }

  private _onScroll = (): void => {
    if (!this.enabled || this._frame !== 0) {
      return;
    }
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this._onChange();
    });
  };

  private _overscan: number;
  private _unmeasured: number;
  private _onChange: () => void;
  private _container: HTMLElement | null = null;
  private _rowHeight = 0;
  private _remeasure = true;
  private _frame = 0;
}
