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
        width={8}
      />,
    );
    const frame = lastFrame() ?? '';
    const lines = frame.split('\n');
    expect(lines[0]).toBe('sim: 2 policies × 4 reps');
    expect(lines[1]).toContain('linucb');
    expect(lines[1]).toContain('████████ 4/4  reward 0.3400');
    expect(lines[1]).toMatch(/[▁▂▃▄▅▆▇█]{4}$/);
    expect(lines[2]).toContain('██░░░░░░ 1/4  reward 0.2500');
    expect(lines[3]).toContain('░░░░░░░░ 0/4  reward   –');
  });

  it('draws proportional bars', () => {
    expect(bar(0, 10, 10)).toBe('░'.repeat(10));
    expect(bar(5, 10, 10)).toBe('█'.repeat(5) + '░'.repeat(5));
    expect(bar(12, 10, 4)).toBe('████');
    expect(bar(0, 0, 3)).toBe('░░░');
  });
});
