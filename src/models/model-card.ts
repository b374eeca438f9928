/**
 * Model cards: one Markdown document per registered model, rendered from registry data only
 * (versions, their training runs' evaluation artifacts, aliases, rollout history), so it can be
 * regenerated after every change. Pure rendering; gathering lives in model-cards.ts.
 *
 * The card states inputs (from the feature contract), training data, offline metrics with
 * confidence intervals, fairness checks per segment (a group whose estimated reward is below
 * 80% of the overall is flagged, the "four-fifths" rule of thumb from adverse-impact analysis),
 * rollout history and limitations.
 */
import { ARM_COUNT, ARM_IDS } from '../features/arms.js';
import { FEATURES, type FeatureDef } from '../features/registry.js';
import { vectorNames, type VectorLayoutName } from '../features/vectors.js';

/** An estimate with its 95% interval. */
export interface Estimate {
  value: number;
  ci95: [number, number];
}

/** One segment's fairness check. */
export interface SegmentCheck {
  segment: string;
  rows: number;
  estimate: Estimate;
  /** Estimate relative to the overall estimate. */
  ratio: number;
  /** The upper bound of the estimate's interval relative to the overall estimate (absent in runs before it was recorded). */
  ratioHigh?: number;
  /** The logging policy's mean reward in the segment relative to its overall mean, on the same rows (absent in runs before it was recorded). */
  loggingRatio?: number;
  flagged: boolean;
}

/** What the training run recorded about a version (the `evaluation.json` artifact). */
export interface VersionEvaluation {
  policy: string;
  layout: VectorLayoutName;
  params: Record<string, number>;
  trainingSet: string;
  /** SHA-256 of the training set file (absent in runs before it was recorded): what the gate checks a refit against. */
  trainingSetSha256?: string;
  rows: number;
  holdoutRows: number;
  dataFrom: string | null;
  dataTo: string | null;
  snapshotId: string | null;
  contractHash: string;
  /** Estimator name → estimate of the policy's value on the holdout. */
  metrics: Record<string, Estimate>;
  /** The logging policy's own value on the holdout (on-policy mean). */
  loggingValue: Estimate;
  /**
   * DR minus the logging policy's value on the holdout, its interval from the per-row
   * differences (paired-dr.ts `drOverLogged`); absent in runs before it was recorded.
   */
  overLogging?: Estimate;
  /** The floor the version serves with (policies/exploration-floor.ts); absent in runs before floors, which serve without one. */
  explorationFloor?: number;
  /** On the holdout: the share of logged rows the version's distribution can use (positive mass on the logged arm), and the smallest logged propensity. */
  support?: { share: number; minLoggedPropensity: number };
  fairness: SegmentCheck[];
  notes: string[];
}

/** One alias move. */
export interface RolloutEntry {
  time: string;
  alias: string;
  from: number | null;
  to: number | null;
  reason: string;
  forced: boolean;
  figures: Record<string, number | string>;
}

/** Everything a card shows about one version. */
export interface CardVersion {
  version: number;
  createdAt: string;
  runId: string;
  aliases: readonly string[];
  evaluation: VersionEvaluation | null;
}

/** Everything a card is rendered from. */
export interface ModelCardData {
  model: string;
  generatedAt: string;
  aliases: Readonly<Record<string, number>>;
  versions: readonly CardVersion[];
  rollout: readonly RolloutEntry[];
}

/** The ratio under which a segment is flagged (four-fifths rule). */
export const FAIRNESS_THRESHOLD = 0.8;

/** `v` with `digits` decimals, or in exponent form where those would show it as 0 (a floor of 1e-300). */
function shortFigure(v: number, digits: number): string {
  return v !== 0 && Math.abs(v) < 10 ** -digits ? v.toExponential(2) : v.toFixed(digits);
}

/**
 * Whether a segment is flagged for review: its estimated reward under the policy is below
 * FAIRNESS_THRESHOLD of the overall estimate, and even the upper bound of its 95% interval is
 * below FAIRNESS_THRESHOLD of the standing the logging policy gave it on the same rows (the
 * four-fifths rule applied to what the policy changes, with the segment's noise accounted for).
 * A segment that is behind under any policy (users at risk of churning engage less whatever they
 * are shown) is not the policy's doing, and a small segment's wide interval is not evidence; a
 * flag blocks promotion to champion (experiments/gate.ts), so it must be both. Runs recorded
 * before the bound and the logging ratio keep the plain four-fifths rule.
 */
export function segmentFlagged(check: Pick<SegmentCheck, 'ratio' | 'ratioHigh' | 'loggingRatio'>): boolean {
  if (check.ratio >= FAIRNESS_THRESHOLD) return false;
  if (check.ratioHigh === undefined || check.loggingRatio === undefined) return true;
  return check.ratioHigh < FAIRNESS_THRESHOLD * check.loggingRatio;
}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : String(x));
/** A rollout figure: counts (serves, seeds, rows) as whole numbers, the rest as `fmt`. */
const figure = (x: number): string => (Number.isInteger(x) ? String(x) : fmt(x));
const est = (e: Estimate): string => `${fmt(e.value)} [${fmt(e.ci95[0])}, ${fmt(e.ci95[1])}]`;
const cell = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

function ttl(f: FeatureDef): string {
  return f.ttlSec === null ? 'JIT (never cached)' : `${f.ttlSec / 86_400} d`;
}

function versionSection(v: CardVersion): string[] {
  const e = v.evaluation;
  const head = `### Version ${v.version}${v.aliases.length > 0 ? ` (${v.aliases.map((a) => `@${a}`).join(', ')})` : ''}`;
  if (e === null) return [head, '', `Registered ${v.createdAt} from run \`${v.runId}\`; no evaluation was recorded.`, ''];
  const lines = [
    head,
    '',
    `Policy \`${e.policy}\` on vectors ${e.layout} (${vectorNames(e.layout).length} dimensions), ` +
      `params ${Object.entries(e.params).map(([k, x]) => `${k}=${x}`).join(', ') || '(defaults)'}; run \`${v.runId}\`, registered ${v.createdAt}.`,
    '',
    ...(e.explorationFloor === undefined
      ? []
      : [
          `**Exploration floor** ${e.explorationFloor}: ${e.explorationFloor === 0 ? 'none, every decision is the policy’s own' : `${shortFigure(e.explorationFloor * 100, 1)}% of decisions are uniform random, so every arm is served with propensity at least ${shortFigure(e.explorationFloor / ARM_COUNT, 4)} and the logs it writes can evaluate other policies`}; applied wherever it serves, is simulated and is evaluated.`,
          '',
        ]),
    '**Training data.** ' +
      `${e.rows} logged decisions from \`${e.trainingSet}\` (${e.dataFrom ?? '?'} … ${e.dataTo ?? '?'}); ` +
      `the last ${e.holdoutRows} (by time) held out for evaluation; snapshot ${e.snapshotId ?? '(none exported)'}, ` +
      `contract \`${e.contractHash.slice(0, 12)}\`.`,
    '',
    '**Offline metrics** (estimated value on the holdout, 95% intervals):',
    '',
    '| estimator | value [95% CI] |',
    '|---|---|',
    ...Object.entries(e.metrics).map(([k, m]) => `| ${k} | ${est(m)} |`),
    `| logging policy (on-policy) | ${est(e.loggingValue)} |`,
    ...(e.overLogging === undefined ? [] : [`| DR − logging policy (paired by row) | ${est(e.overLogging)} |`]),
    '',
    ...(e.support === undefined
      ? []
      : [
          `**Support.** The version's distribution can use ${(e.support.share * 100).toFixed(1)}% of the holdout's logged rows (the rest give it weight 0); the smallest logged propensity is ${e.support.minLoggedPropensity.toPrecision(3)}.`,
          '',
        ]),
  ];
  if (e.fairness.length > 0) {
    const flagged = e.fairness.filter((f) => f.flagged);
    lines.push(
      `**Fairness by segment** (estimated reward relative to overall, and the logging policy's on the same rows; flagged below ${FAIRNESS_THRESHOLD * 100}% of overall, with the interval's upper bound below ${FAIRNESS_THRESHOLD * 100}% of the logging policy's ratio):`,
      '',
      '| segment | rows | estimate [95% CI] | ratio | logging ratio | check |',
      '|---|---:|---|---:|---:|---|',
      ...e.fairness.map(
        (f) =>
          `| ${cell(f.segment)} | ${f.rows} | ${est(f.estimate)} | ${f.ratio.toFixed(2)} | ${f.loggingRatio === undefined ? '–' : f.loggingRatio.toFixed(2)} | ${f.flagged ? '⚠ left behind' : 'ok'} |`,
      ),
      '',
      flagged.length === 0
        ? 'No segment is left behind.'
        : `Flagged: ${flagged.map((f) => f.segment).join(', ')}. Review before promotion: the gate refuses a champion with a flagged segment unless forced with a reason.`,
      '',
    );
  }
  if (e.notes.length > 0) lines.push(...e.notes.map((n) => `- ${n}`), '');
  return lines;
}

/** Renders the card. Deterministic for the same data. */
export function renderModelCard(data: ModelCardData): string {
  const aliasLine = Object.entries(data.aliases)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([a, v]) => `@${a} → v${v}`)
    .join(', ');
  const features = FEATURES as readonly FeatureDef[];
  const lines = [
    `# Model card: ${data.model}`,
    '',
    `Generated ${data.generatedAt} from the registry. Aliases: ${aliasLine || '(none)'}.`,
    '',
    '## Intended use',
    '',
    'Chooses which productivity tip (arm) to show a person at a moment, as a contextual bandit; ' +
      'a reward is the tip being completed or liked within 24 hours, or the number in [0, 1] the app gave for it.',
    '',
    '## Inputs',
    '',
    `Arms (${ARM_IDS.length}): ${ARM_IDS.map((a) => `\`${a}\``).join(', ')}.`,
    '',
    '| feature | kind | dtype | TTL | fallback | description |',
    '|---|---|---|---|---|---|',
    ...features.map((f) => `| \`${f.name}\` | ${f.kind} | ${f.dtype} | ${ttl(f)} | ${f.fallback} | ${cell(f.description)} |`),
    '',
    `Vector layouts: v1 = ${vectorNames('v1').join(', ')}; v2 = ${vectorNames('v2').join(', ')}.`,
    '',
    '## Versions',
    '',
    ...[...data.versions].sort((a, b) => b.version - a.version).flatMap(versionSection),
    '## Rollout history',
    '',
  ];
  if (data.rollout.length === 0) lines.push('No alias has moved yet.', '');
  else {
    lines.push(
      '| time | alias | from | to | reason | figures |',
      '|---|---|---|---|---|---|',
      ...data.rollout.map(
        (r) =>
          `| ${r.time} | ${r.alias} | ${r.from === null ? '–' : `v${r.from}`} | ${r.to === null ? '–' : `v${r.to}`} | ` +
          `${cell(r.reason)}${r.forced ? ' (forced)' : ''} | ${cell(Object.entries(r.figures).map(([k, v]) => `${k}=${typeof v === 'number' ? figure(v) : v}`).join(', '))} |`,
      ),
      '',
    );
  }
  lines.push(
    '## Limitations',
    '',
    '- Off-policy estimates assume the logged propensities are correct and every arm the policy may choose had positive logging probability.',
    '- Profile features are daily batches: same-day behaviour reaches the model the next day.',
    '- Segments with few rows have wide intervals; a flag on a small segment is a prompt to look, not a verdict.',
    '- Synthetic personas (when trained on `oo-ml data synth` output) are a stand-in for real people and encode assumptions about them.',
    '',
  );
  return lines.join('\n');
}

/** A description that fits MLflow's 5000-character column: the card cut at a line boundary. */
export function cardSummary(markdown: string, limit = 5000): string {
  if (markdown.length <= limit) return markdown;
  const note = '\n\n… (truncated; the full card is the run artifact `model-card.md`)';
  const cut = markdown.lastIndexOf('\n', limit - note.length);
  return markdown.slice(0, cut > 0 ? cut : limit - note.length) + note;
}
