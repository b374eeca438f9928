import { describe, expect, it } from 'vitest';
import { dumpMlflowYaml, parseMlflowYaml } from '../../src/registry/mlflow-yaml.js';

describe('MLflow YAML', () => {
  it('emits what PyYAML safe_dump emits: sorted block keys, single-quoted YAML 1.1 look-alikes', () => {
    const text = dumpMlflowYaml({ name: 'yes', experiment_id: '0', version: 3, when: '2024-01-01', clock: '1:20', empty: '', none: null, tags: [], on: 'on', id: '108340459790767148', plain: 'tip policy ✓' });
    expect(text).toBe(
      [
        "clock: '1:20'",
        "empty: ''",
        "experiment_id: '0'",
        "id: '108340459790767148'",
        "name: 'yes'",
        'none: null',
        "'on': 'on'",
        'plain: tip policy ✓',
        'tags: []',
        'version: 3',
        "when: '2024-01-01'",
        '',
      ].join('\n'),
    );
    expect(parseMlflowYaml(text, 'f')).toMatchObject({ name: 'yes', experiment_id: '0', version: 3, clock: '1:20', on: 'on', none: null });
  });

  it('keeps every digit of a legacy unquoted 18-digit ID', () => {
    expect(parseMlflowYaml('experiment_id: 108340459790767148\nsmall: 7\n', 'f')).toEqual({ experiment_id: '108340459790767148', small: 7 });
  });

  it('names the file when the YAML is bad or not a mapping', () => {
    expect(() => parseMlflowYaml('a: [1\n', 'mlruns/1/meta.yaml')).toThrow(/mlruns\/1\/meta\.yaml: not valid YAML/);
    expect(() => parseMlflowYaml('- a\n', 'x/meta.yaml')).toThrow(/x\/meta\.yaml: expected a YAML mapping, found a list/);
    expect(() => parseMlflowYaml('', 'x/meta.yaml')).toThrow(/an empty document/);
  });
});
