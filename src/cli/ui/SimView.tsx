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
  width?: number;
}

/** The simulation dashboard. */
export function SimView({ title, policies, width = 24 }: SimViewProps) {
  const nameWidth = Math.max(6, ...policies.map((p) => p.name.length));
  return (
    <Box flexDirection="column">
      <Text bold>{title}</Text>
      {policies.map((p) => {
        const mean = p.rewards.length === 0 ? null : p.rewards.reduce((a, b) => a + b, 0) / p.rewards.length;
        return (
          <Box key={p.name}>
            <Text>{p.name.padEnd(nameWidth)} </Text>
            <Text color={p.done === p.total ? 'green' : 'yellow'}>{bar(p.done, p.total, width)}</Text>
            <Text>
              {' '}
              {String(p.done).padStart(String(p.total).length)}/{p.total}
              {'  reward '}
              {mean === null ? '  –  ' : mean.toFixed(4)}
              {'  '}
            </Text>
            <Sparkline values={p.rewards} width={40} />
          </Box>
        );
      })}
    </Box>
  );
}
