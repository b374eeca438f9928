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
}

const num = (x: number | null | undefined, d = 4): string => (x === null || x === undefined ? '–' : x.toFixed(d));

/** The rows of the list: every version of every model, newest first within a model. */
export function browserRows(models: readonly ListedModel[]): BrowserRow[] {
  return models.flatMap((m) => [...m.versions].reverse().map((v) => ({ model: m.name, version: v.version })));
}

/** The browser. */
export function ModelsView({ models, rows, selected, details, marked, compare, error }: ModelsViewProps) {
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>oo-ml models</Text>
        <Text dimColor>{'  ↑/↓ select · c mark for comparison (again: clear) · q quit'}</Text>
      </Text>
      {error !== null ? <Text color="red">{error}</Text> : null}
      <Box marginTop={1}>
        <Box flexDirection="column" width={48} flexShrink={0} marginRight={2}>
          {rows.map((r, i) => {
            const v = models.find((m) => m.name === r.model)?.versions.find((x) => x.version === r.version);
            const isMarked = marked !== null && marked.model === r.model && marked.version === r.version;
            return (
              <Text key={`${r.model}/${r.version}`} inverse={i === selected} color={isMarked ? 'cyan' : undefined}>
                {`${isMarked ? '◆' : ' '} ${r.model} v${r.version}`.padEnd(22)}
                {(v?.aliases.map((a) => `@${a}`).join(' ') ?? '').padEnd(20).slice(0, 20)}
              </Text>
            );
          })}
          {rows.length === 0 ? <Text dimColor>no registered models (train one with `oo-ml train --policy linucb`)</Text> : null}
        </Box>
        <Box flexDirection="column" flexGrow={1}>
          {details === null ? <Text dimColor>{rows.length === 0 ? '' : 'loading…'}</Text> : compare !== null ? <Comparison a={compare} b={details} /> : <Details d={details} />}
        </Box>
      </Box>
    </Box>
  );
}

function Details({ d }: { d: VersionDetails }) {
  const v = d.version;
  const e = d.evaluation;
  const estimates = e === null ? [] : Object.entries(e.metrics);
  return (
    <Box flexDirection="column">
      <Text bold>{`${d.model} v${v.version}${v.aliases.length === 0 ? '' : `  (${v.aliases.map((a) => `@${a}`).join(', ')})`}`}</Text>
      <Text>{`policy ${v.policy ?? '–'} · created ${v.createdAt.replace('T', ' ').slice(0, 19)} · run ${v.runStatus ?? '–'}${v.interrupted === null ? '' : ` · ${v.interrupted}`}${v.retired === null ? '' : ` · retired: ${v.retired}`}`}</Text>
      <Text bold>{'\noff-policy on the holdout'}</Text>
      {estimates.map(([name, est]) => (
        <Text key={name}>
          {`  ${name.padEnd(8)} ${num(est.value)} [${num(est.ci95[0])}, ${num(est.ci95[1])}]  `}
          <Text color="cyan">{intervalBar(Math.min(1, Math.max(0, est.value)), Math.max(0, est.ci95[0]), Math.min(1, est.ci95[1]), 24)}</Text>
        </Text>
      ))}
      {e !== null ? (
        <Text>{`  logging  ${num(e.loggingValue.value)} [${num(e.loggingValue.ci95[0])}, ${num(e.loggingValue.ci95[1])}]${e.support === undefined ? '' : ` · support ${(100 * e.support.share).toFixed(1)} % · min logged propensity ${num(e.support.minLoggedPropensity, 3)}`}`}</Text>
      ) : (
        <Text dimColor>  no evaluation logged</Text>
      )}
      {e !== null && e.fairness.some((f) => f.flagged) ? <Text color="yellow">{`  ⚠ flagged segments: ${e.fairness.filter((f) => f.flagged).map((f) => f.segment).join(', ')}`}</Text> : null}
      <Text bold>{'\nsimulations'}</Text>
      {d.simulations.map((s) => (
        <Text key={s.runId}>{`  ${s.startedAt.slice(0, 16).replace('T', ' ')}  as ${s.entrant}: reward ${num(s.meanReward)}${s.vsBaseline === null ? ' (baseline)' : `, vs ${s.baseline} ${s.vsBaseline >= 0 ? '+' : ''}${num(s.vsBaseline)} [${num(s.vsBaselineCi?.[0])}, ${num(s.vsBaselineCi?.[1])}]`}`}</Text>
      ))}
      {d.simulations.length === 0 ? <Text dimColor>  none</Text> : null}
      <Text bold>{'\nmodel card (its training run)'}</Text>
      <Text dimColor>{d.card === null ? '  none' : d.card.split('\n').slice(0, 12).join('\n')}</Text>
    </Box>
  );
}

function Comparison({ a, b }: { a: VersionDetails; b: VersionDetails }) {
  const names = [...new Set([...Object.keys(a.evaluation?.metrics ?? {}), ...Object.keys(b.evaluation?.metrics ?? {})])];
  const est = (d: VersionDetails, name: string): string => {
    const e = d.evaluation?.metrics[name];
    return e === undefined ? '–' : `${num(e.value)} [${num(e.ci95[0])}, ${num(e.ci95[1])}]`;
  };
  const sim = (d: VersionDetails): string => {
    const s = d.simulations[0];
    return s === undefined ? '–' : `${num(s.meanReward)}${s.vsBaseline === null ? '' : ` (${s.vsBaseline >= 0 ? '+' : ''}${num(s.vsBaseline)} vs ${s.baseline})`}`;
  };
  const row = (label: string, x: string, y: string) => (
    <Text key={label}>
      {label.padEnd(14)}
      {x.padEnd(34)}
      {y}
    </Text>
  );
  return (
    <Box flexDirection="column">
      <Text bold>{'side by side'.padEnd(14) + `${a.model} v${a.version.version}`.padEnd(34) + `${b.model} v${b.version.version}`}</Text>
      {row('aliases', a.version.aliases.map((x) => `@${x}`).join(' ') || '–', b.version.aliases.map((x) => `@${x}`).join(' ') || '–')}
      {row('policy', a.version.policy ?? '–', b.version.policy ?? '–')}
      {names.map((n) => row(n, est(a, n), est(b, n)))}
      {row('logging', a.evaluation === null ? '–' : num(a.evaluation.loggingValue.value), b.evaluation === null ? '–' : num(b.evaluation.loggingValue.value))}
      {row('support', a.evaluation?.support === undefined ? '–' : `${(100 * a.evaluation.support.share).toFixed(1)} %`, b.evaluation?.support === undefined ? '–' : `${(100 * b.evaluation.support.share).toFixed(1)} %`)}
      {row('last sim', sim(a), sim(b))}
    </Box>
  );
}
