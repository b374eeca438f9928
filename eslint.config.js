// Lint: typescript-eslint's recommended rules, plus the purity fence of STYLE.md — features/,
// policies/, evaluation/ and random/ may not import node:* or native/I-O packages, nor reach
// for the clock or Math.random.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const PURE = ['src/features/**', 'src/policies/**', 'src/evaluation/**', 'src/random/**'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'oo-ml-quickstart/**', 'bench/out/**', 'coverage/**', 'scratch/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', performance: 'readonly', fetch: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: PURE,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'os', 'child_process', 'crypto', 'http', 'net'], message: 'pure module: no I/O' },
            { group: ['@duckdb/*', 'fastify', 'apache-arrow', '@nats-io/*'], message: 'pure module: no I/O libraries' },
            { group: ['**/pipelines/**', '**/registry/**', '**/models/**', '**/server/**', '**/cli/**', '**/events/**', '**/io/**'], message: 'pure module: imports flow one way' },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'process', message: 'pure module: pass configuration in' }, { name: 'fetch', message: 'pure module: no I/O' }],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'pure module: take an Rng argument' },
        { object: 'Date', property: 'now', message: 'pure module: take the clock as an argument' },
        { object: 'performance', property: 'now', message: 'pure module: take the clock as an argument' },
      ],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'pure module: take the clock as an argument' }],
    },
  },
);
