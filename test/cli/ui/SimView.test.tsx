import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { bar } from '../../../src/cli/ui/components.js';
import { SimView } from '../../../src/cli/ui/SimView.js';

describe('SimView', () => {
  it('shows a bar, counts, mean reward and a sparkline per policy', () => {
    const { lastFrame } = render(
      <SimView
        title="sim: 2 policies × 4 reps"
        policies={[
          { name: 'linucb', done: 4, total: 4, rewards: [0.31, 0.33, 0.35, 0.37] },
          { name: 'egreedy-v1', done: 1, total: 4, rewards: [0.25] },
          { name: 'thompson', done: 0, total: 4, rewards: [] },
        ]}
        columns={60}
      />,
    );
    const frame = lastFrame() ?? '';
    const lines = frame.split('\n');
    expect(lines[0]).toBe('sim: 2 policies × 4 reps');
    expect(lines[1]).toContain('linucb');
    expect(lines[1]).toContain(`${bar(4, 4, 10)} 4/4  reward 0.3400`);
    // Reward rates drawn from 0: 0.31 to 0.37 is a small rise near the top, not bottom to top.
    expect(lines[1]).toMatch(/[▆▇█]{4}$/);
    expect(lines[2]).toContain(`${bar(1, 4, 10)} 1/4  reward 0.2500`);
    expect(lines[3]).toContain(`${bar(0, 4, 10)} 0/4  reward   –`);
  });

  it('fits every line to the terminal, with many replications and long names', () => {
    const policies = ['uniform', 'tip-policy@candidate', 'a-registered-policy-with-a-long-name@champion'].map((name, i) => ({
      name,
      done: 38 + i,
      total: 40,
      rewards: Array.from({ length: 38 + i }, (_, k) => 0.3 + 0.001 * ((k * 7) % 13)),
    }));
    for (const columns of [80, 50]) {
      const frame = render(<SimView title="sim: 3 policies × 40 reps" policies={policies} columns={columns} />).lastFrame() ?? '';
      const lines = frame.split('\n');
      // One line per policy (none wrapped), none wider than the terminal.
      expect(lines, `${columns} columns`).toHaveLength(4);
      for (const line of lines) expect(line.length, `${columns} columns: ${line}`).toBeLessThanOrEqual(columns);
      expect(lines[3]).toMatch(/^a-registered-p[a-z-]*… /);
      expect(lines[3]).toContain('40/40  reward');
    }
  });

  it('draws proportional bars', () => {
    expect(bar(0, 10, 10)).toBe('░'.repeat(10));
    expect(bar(5, 10, 10)).toBe('█'.repeat(5) + '░'.repeat(5));
    expect(bar(12, 10, 4)).toBe('████');
    expect(bar(0, 0, 3)).toBe('░░░');
  });
});
