import { describe, expect, it } from 'vitest';
import { parseModelRef } from '../../src/models/policy-artifacts.js';

describe('model references', () => {
  it('reads MODEL@ALIAS, MODEL@vN and MODEL/N (version N); anything else is not a reference', () => {
    expect(parseModelRef('tip-policy@champion')).toEqual({ model: 'tip-policy', alias: 'champion' });
    expect(parseModelRef('tip-policy@v3')).toEqual({ model: 'tip-policy', alias: 'v3' });
    expect(parseModelRef('tip-policy/3')).toEqual({ model: 'tip-policy', alias: 'v3' });
    expect(parseModelRef('team/tip-policy/12')).toEqual({ model: 'team/tip-policy', alias: 'v12' });
    expect(parseModelRef('team/tip@champion')).toEqual({ model: 'team/tip', alias: 'champion' });
    for (const ref of ['linucb', 'uniform', 'tip-policy@', '@champion', 'tip-policy/0', 'tip-policy/3a', '/3', 'tip-policy/']) expect(parseModelRef(ref), ref).toBeNull();
  });
});
