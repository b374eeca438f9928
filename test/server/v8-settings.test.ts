import { describe, expect, it } from 'vitest';
import { oneCoreAdvice } from '../../src/server/v8-settings.js';

describe('advice for a server on one core', () => {
  it('names the option when the process has one core and no pool size', () => {
    const advice = oneCoreAdvice(1, ['--enable-source-maps', '']);
    expect(advice).toContain('NODE_OPTIONS=--v8-pool-size=1');
  });

  it('stays silent with more cores, or with the pool size or single-threaded collection given', () => {
    expect(oneCoreAdvice(2, [])).toBeNull();
    expect(oneCoreAdvice(1, ['--v8-pool-size=1'])).toBeNull();
    expect(oneCoreAdvice(1, ['--max-old-space-size=512', '--v8-pool-size=2'])).toBeNull();
    expect(oneCoreAdvice(1, ['--single-threaded-gc'])).toBeNull();
    expect(oneCoreAdvice(1, ['--single-threaded'])).toBeNull();
    // Node and V8 read `_` as `-` in option names.
    expect(oneCoreAdvice(1, ['--v8_pool_size=1'])).toBeNull();
  });

  it('does not take an option that only starts like one', () => {
    expect(oneCoreAdvice(1, ['--v8-pool-sizes=1'])).not.toBeNull();
  });
});
