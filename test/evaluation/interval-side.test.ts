import { describe, expect, it } from 'vitest';
import { intervalSide } from '../../src/evaluation/estimate.js';

describe('intervalSide', () => {
  it('says an interval lies below or above a value only when the whole of it does; an end on the value includes it', () => {
    expect(intervalSide([0.1, 0.16], 0.24)).toBe('below');
    expect(intervalSide([0.25, 0.35], 0.24)).toBe('above');
    expect(intervalSide([0.2, 0.28], 0.24)).toBe('includes');
    expect(intervalSide([0.1, 0.24], 0.24)).toBe('includes');
    expect(intervalSide([0.24, 0.3], 0.24)).toBe('includes');
    // An interval that is no interval (NaN ends, from too few rows) is never said to be apart.
    expect(intervalSide([Number.NaN, Number.NaN], 0.24)).toBe('includes');
  });
});
