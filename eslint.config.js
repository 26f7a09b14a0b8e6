// Lint: typescript-eslint's recommended rules, plus a layering rule that keeps the core pure.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'web/dist/**', '.gantry/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The core is pure: no I/O, no clock, no ambient randomness (DESIGN.md, "Layers").
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['node:*', 'fs', 'path', 'os', 'child_process', 'http', 'net'], message: 'src/core is pure: no I/O imports.' },
        { group: ['../sim/*', '../server/*', '../adapters/*', '../cli/*', '../../sim/*', '../../server/*', '../../adapters/*', '../../cli/*'], message: 'src/core must not depend on outer layers.' },
      ] }],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'Inject a clock into the core.' },
        { object: 'Math', property: 'random', message: 'Inject a seeded RNG into the core.' },
      ],
      'no-restricted-globals': ['error', 'process', 'setTimeout', 'setInterval', 'console'],
    },
  },
  {
    files: ['examples/**/*.mjs', 'bench/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly', performance: 'readonly', fetch: 'readonly' } },
  },
  {
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
  },
);
