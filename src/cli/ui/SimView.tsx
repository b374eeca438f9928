/**
 * The live view of `oo-ml sim` on a TTY: one line per policy with a progress bar over its
 * replications, its running mean reward, and a sparkline of the reward of each finished
 * replication. Props only; the container (sim-live.tsx) feeds it.
 */
import { Box, Text } from 'ink';
import { bar, Sparkline } from './components.js';

/** Progress and rewards of one policy so far. */
export interface PolicyProgress {
  name: string;
  done: number;
  total: number;
  /** Mean reward per decision of each finished replication, in order. */
  rewards: readonly number[];
}

/** Props of SimView. */
export interface SimViewProps {
  title: string;
  policies: readonly PolicyProgress[];
  /** The terminal's width: every line fits in it (a line the terminal wraps leaves ink's redraw a line short, and old frames pile up). */
  columns?: number;
}

/** The simulation dashboard, one line per policy, fitted to `columns`. */
export function SimView({ title, policies, columns = 120 }: SimViewProps) {
  const barWidth = columns >= 80 ? 24 : 10;
  const total = Math.max(1, ...policies.map((p) => p.total));
  // Bar, "done/total", "  reward 0.0000  " beside the name; what is left goes to the sparkline.
  const counts = 1 + barWidth + 1 + 2 * String(total).length + 1 + 17;
  const nameWidth = Math.max(4, Math.min(24, Math.max(6, ...policies.map((p) => p.name.length)), columns - counts - 1));
  const fixed = nameWidth + counts;
  const sparkWidth = Math.max(0, Math.min(40, columns - fixed - 1));
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {title}
      </Text>
      {policies.map((p) => {
        const mean = p.rewards.length === 0 ? null : p.rewards.reduce((a, b) => a + b, 0) / p.rewards.length;
        const name = p.name.length <= nameWidth ? p.name.padEnd(nameWidth) : `${p.name.slice(0, nameWidth - 1)}…`;
        return (
          <Box key={p.name} flexShrink={0}>
            <Text>{name} </Text>
            <Text color={p.done === p.total ? 'green' : 'yellow'}>{bar(p.done, p.total, barWidth)}</Text>
            <Text>
              {' '}
              {String(p.done).padStart(String(p.total).length)}/{p.total}
              {'  reward '}
              {mean === null ? '  –   ' : mean.toFixed(4)}
              {'  '}
            </Text>
            {/* A reward rate: the bottom pinned at 0, so run-to-run noise is drawn as small as it is. */}
            {sparkWidth >= 4 ? <Sparkline values={p.rewards} width={sparkWidth} minimum={0} /> : null}
          </Box>
        );
      })}
    </Box>
  );
}
