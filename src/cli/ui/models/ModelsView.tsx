/**
 * `oo-ml models` on a terminal: the versions of every registered model on the left (aliases,
 * headline value), the selected version on the right (its off-policy estimates with intervals,
 * support, fairness flags, its simulations, the start of its model card), and, once a version is
 * marked with `c`, the two side by side. Props only; models-live.tsx loads and handles keys.
 */
import { Box, Text } from 'ink';
import type { ListedModel } from '../../../models/model-listing.js';
import type { VersionDetails } from '../../../models/version-details.js';
import { intervalBar } from '../components.js';

/** One row of the list: a model's version. */
export interface BrowserRow {
  model: string;
  version: number;
}

/** Props of ModelsView. */
export interface ModelsViewProps {
  models: readonly ListedModel[];
  rows: readonly BrowserRow[];
  selected: number;
  /** The selected version's details (null while loading). */
  details: VersionDetails | null;
  /** The version marked for comparison (c). */
  marked: BrowserRow | null;
  /** The marked version's details when another one is selected: shown side by side. */
  compare: VersionDetails | null;
  error: string | null;
  /** The terminal's size: the view fits in it (a frame taller than the window is redrawn by clearing the screen and its scrollback). */
  columns?: number;
  height?: number;
}

/** Below this width the list goes above the details instead of beside them. */
const SIDE_BY_SIDE_MIN = 110;
/** Width of the list beside the details. */
const LIST_WIDTH = 40;

const num = (x: number | null | undefined, d = 4): string => (x === null || x === undefined ? '–' : x.toFixed(d));

/** The rows of the list: every version of every model, newest first within a model. */
export function browserRows(models: readonly ListedModel[]): BrowserRow[] {
  return models.flatMap((m) => [...m.versions].reverse().map((v) => ({ model: m.name, version: v.version })));
}

/** `text` cut to `width` characters, with an ellipsis when cut. */
const fit = (text: string, width: number): string => (text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`);

/** The first of `count` rows to show out of `total` so that `selected` is in view, near the middle. */
function windowStart(selected: number, total: number, count: number): number {
  return Math.max(0, Math.min(total - count, selected - Math.floor(count / 2)));
}

/**
 * The browser, fitted to the terminal: the list beside the details when there is room, above
 * them otherwise; the list scrolls with the selection and the card is cut to the height left.
 */
export function ModelsView({ models, rows, selected, details, marked, compare, error, columns = 120, height = 40 }: ModelsViewProps) {
  const beside = columns >= SIDE_BY_SIDE_MIN;
  const listWidth = beside ? LIST_WIDTH : Math.max(10, columns - 1);
  const detailsWidth = beside ? columns - LIST_WIDTH - 3 : columns - 1;
  // Header (2), the details' fixed lines (~12 and the estimates): what is left goes to the list and the card.
  const estimates = Object.keys(details?.evaluation?.metrics ?? {}).length;
  const detailLines = 12 + estimates + (details?.simulations.length ?? 1);
  const errorLines = error === null ? 0 : 1;
  // Beside the details the list has the height but the header, its margin, the error line, the
  // two scroll marks and a line to spare: a frame as tall as the window is redrawn by clearing it.
  const listRows = beside ? Math.max(3, height - 6 - errorLines) : Math.max(3, Math.min(rows.length, Math.floor((height - 4) / 3)));
  const shown = Math.min(rows.length, listRows);
  const start = windowStart(selected, rows.length, shown);
  const listLines = shown + (start > 0 ? 1 : 0) + (start + shown < rows.length ? 1 : 0);
  // The details get the lines left (their overflow is hidden): the header, its margin, and
  // beneath a list the list and another margin; one line to spare for the cursor.
  const detailsHeight = Math.max(1, height - 3 - errorLines - (beside ? 0 : listLines + 1) - 1);
  const cardLines = Math.max(0, Math.min(12, detailsHeight - detailLines));
  const list = (
    <Box flexDirection="column" width={listWidth} flexShrink={0} marginRight={beside ? 2 : 0}>
      {start > 0 ? <Text dimColor>{`  ↑ ${start} more`}</Text> : null}
      {rows.slice(start, start + shown).map((r, k) => {
        const i = start + k;
        const v = models.find((m) => m.name === r.model)?.versions.find((x) => x.version === r.version);
        const isMarked = marked !== null && marked.model === r.model && marked.version === r.version;
        // A mark of its own besides the colours: a terminal without them (TERM=dumb, NO_COLOR) shows the selection too.
        const line = `${i === selected ? '›' : ' '}${isMarked ? '◆' : ' '} ${`${r.model} v${r.version}`.padEnd(20)} ${v?.aliases.map((a) => `@${a}`).join(' ') ?? ''}`;
        return (
          <Text key={`${r.model}/${r.version}`} inverse={i === selected} color={isMarked ? 'cyan' : undefined}>
            {fit(line, listWidth)}
          </Text>
        );
      })}
      {start + shown < rows.length ? <Text dimColor>{`  ↓ ${rows.length - start - shown} more`}</Text> : null}
      {rows.length === 0 ? <Text dimColor>no registered models (train one with `oo-ml train --policy linucb`)</Text> : null}
    </Box>
  );
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>oo-ml models</Text>
        <Text dimColor>{fit('  q quit · ↑/↓ select · c mark for comparison (again: clear)', Math.max(0, columns - 13))}</Text>
      </Text>
      {error !== null ? <Text color="red">{error}</Text> : null}
      <Box marginTop={1} flexDirection={beside ? 'row' : 'column'}>
        {list}
        <Box flexDirection="column" flexGrow={1} width={detailsWidth} height={detailsHeight} overflow="hidden" marginTop={beside ? 0 : 1}>
          {details === null ? (
            <Text dimColor>{rows.length === 0 ? '' : 'loading…'}</Text>
          ) : compare !== null ? (
            <Comparison a={compare} b={details} width={detailsWidth} />
          ) : (
            <Details d={details} cardLines={cardLines} />
          )}
        </Box>
      </Box>
    </Box>
  );
}

function Details({ d, cardLines }: { d: VersionDetails; cardLines: number }) {
  const v = d.version;
  const e = d.evaluation;
  const estimates = e === null ? [] : Object.entries(e.metrics);
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end" bold>{`${d.model} v${v.version}${v.aliases.length === 0 ? '' : `  (${v.aliases.map((a) => `@${a}`).join(', ')})`}`}</Text>
      <Text wrap="truncate-end">{`policy ${v.policy ?? '–'} · created ${v.createdAt.replace('T', ' ').slice(0, 19)} · run ${v.runStatus ?? '–'}${v.interrupted === null ? '' : ` · ${v.interrupted}`}${v.retired === null ? '' : ` · retired: ${v.retired}`}`}</Text>
      <Text wrap="truncate-end" bold>{'\noff-policy on the holdout'}</Text>
      {estimates.map(([name, est]) => (
        <Text wrap="truncate-end" key={name}>
          {`  ${name.padEnd(8)} ${num(est.value)} [${num(est.ci95[0])}, ${num(est.ci95[1])}]  `}
          <Text wrap="truncate-end" color="cyan">{intervalBar(Math.min(1, Math.max(0, est.value)), Math.max(0, est.ci95[0]), Math.min(1, est.ci95[1]), 24)}</Text>
        </Text>
      ))}
      {e !== null ? (
        <Text wrap="truncate-end">{`  logging  ${num(e.loggingValue.value)} [${num(e.loggingValue.ci95[0])}, ${num(e.loggingValue.ci95[1])}]${e.support === undefined ? '' : ` · support ${(100 * e.support.share).toFixed(1)} % · min logged propensity ${num(e.support.minLoggedPropensity, 3)}`}`}</Text>
      ) : (
        <Text wrap="truncate-end" dimColor>  no evaluation logged</Text>
      )}
      {e !== null && e.fairness.some((f) => f.flagged) ? <Text wrap="truncate-end" color="yellow">{`  ⚠ flagged segments: ${e.fairness.filter((f) => f.flagged).map((f) => f.segment).join(', ')}`}</Text> : null}
      <Text wrap="truncate-end" bold>{'\nsimulations'}</Text>
      {d.simulations.map((s) => (
        <Text wrap="truncate-end" key={s.runId}>{`  ${s.startedAt.slice(0, 16).replace('T', ' ')}  as ${s.entrant}: reward ${num(s.meanReward)}${s.vsBaseline === null ? ' (baseline)' : `, vs ${s.baseline} ${s.vsBaseline >= 0 ? '+' : ''}${num(s.vsBaseline)} [${num(s.vsBaselineCi?.[0])}, ${num(s.vsBaselineCi?.[1])}]`}`}</Text>
      ))}
      {d.simulations.length === 0 ? <Text wrap="truncate-end" dimColor>  none</Text> : null}
      {cardLines > 0 ? <Text wrap="truncate-end" bold>{'\nmodel card (its training run)'}</Text> : null}
      {/* One Text per line: truncate-end on a block of lines keeps only its first line. */}
      {cardLines > 0 && d.card === null ? <Text dimColor>{'  none'}</Text> : null}
      {cardLines > 0 && d.card !== null
        ? d.card
            .split('\n')
            .slice(0, cardLines)
            .map((line, i) => (
              <Text key={i} wrap="truncate-end" dimColor>
                {line === '' ? ' ' : line}
              </Text>
            ))
        : null}
    </Box>
  );
}

function Comparison({ a, b, width }: { a: VersionDetails; b: VersionDetails; width: number }) {
  // Two columns that fit the width: an interval cut short beats two that wrap into each other.
  const col = Math.max(12, Math.floor((width - 14) / 2));
  const names = [...new Set([...Object.keys(a.evaluation?.metrics ?? {}), ...Object.keys(b.evaluation?.metrics ?? {})])];
  const est = (d: VersionDetails, name: string): string => {
    const e = d.evaluation?.metrics[name];
    return e === undefined ? '–' : `${num(e.value)} [${num(e.ci95[0])}, ${num(e.ci95[1])}]`;
  };
  const sim = (d: VersionDetails): string => {
    const s = d.simulations[0];
    return s === undefined ? '–' : `${num(s.meanReward)}${s.vsBaseline === null ? '' : ` (${s.vsBaseline >= 0 ? '+' : ''}${num(s.vsBaseline)} vs ${s.baseline})`}`;
  };
  const row = (label: string, x: string, y: string) => <Text wrap="truncate-end" key={label}>{fit(label, 13).padEnd(14) + fit(x, col - 1).padEnd(col) + fit(y, col - 1)}</Text>;
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end" bold>{'side by side'.padEnd(14) + fit(`${a.model} v${a.version.version}`, col - 1).padEnd(col) + fit(`${b.model} v${b.version.version}`, col - 1)}</Text>
      {row('aliases', a.version.aliases.map((x) => `@${x}`).join(' ') || '–', b.version.aliases.map((x) => `@${x}`).join(' ') || '–')}
      {row('policy', a.version.policy ?? '–', b.version.policy ?? '–')}
      {names.map((n) => row(n, est(a, n), est(b, n)))}
      {row('logging', a.evaluation === null ? '–' : num(a.evaluation.loggingValue.value), b.evaluation === null ? '–' : num(b.evaluation.loggingValue.value))}
      {row('support', a.evaluation?.support === undefined ? '–' : `${(100 * a.evaluation.support.share).toFixed(1)} %`, b.evaluation?.support === undefined ? '–' : `${(100 * b.evaluation.support.share).toFixed(1)} %`)}
      {row('last sim', sim(a), sim(b))}
    </Box>
  );
}
