/**
 * Small terminal components shared by oo-ml's ink views (the simulator's live view and
 * `oo-ml dash`): a progress bar, a sparkline, and an interval bar on [0, 1].
 */
import { Text } from 'ink';
import sparkly from 'sparkly';

/** A text progress bar of `width` cells. */
export function bar(done: number, total: number, width: number): string {
  const filled = total === 0 ? 0 : Math.round((Math.min(done, total) / total) * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** The last `width` values as a sparkline (blank below two values); `minimum` pins the bottom (0 for rates), else the lowest value is. */
export function sparkline(values: readonly number[], width: number, minimum?: number): string {
  const shown = values.slice(-width);
  return shown.length < 2 ? '' : sparkly([...shown], minimum === undefined ? {} : { minimum });
}

/** A sparkline in colour. */
export function Sparkline({ values, width = 30, color = 'cyan', minimum }: { values: readonly number[]; width?: number; color?: string; minimum?: number }) {
  return <Text color={color}>{sparkline(values, width, minimum)}</Text>;
}

/**
 * `value` and its interval on a [0, 1] axis of `width` cells: `─` outside, `━` inside the
 * interval, `●` at the value (`low ≤ value ≤ high`).
 */
export function intervalBar(value: number, low: number, high: number, width: number): string {
  const cell = (x: number): number => Math.min(width - 1, Math.max(0, Math.round(x * (width - 1))));
  const cells: string[] = Array.from({ length: width }, (_, i) => (i >= cell(low) && i <= cell(high) ? '━' : '─'));
  cells[cell(value)] = '●';
  return cells.join('');
}
