// Workflow code runs in Temporal's deterministic sandbox: it may not touch Node
// built-ins or do I/O, and an un-awaited promise there is almost always a bug.
// Those rules are enforced here rather than discovered at bundle or replay time.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.autocrane/**', 'coverage/**', '*.js', '*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
          patterns: [
            { group: ['**/activities/*', '**/activities'], allowTypeImports: true, message: 'Workflows may import only the types of activities (use proxyActivities).' },
            { group: ['@kubernetes/*', 'express', 'pino', 'pino-*', 'prom-client', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '**/platform/*'], message: 'Workflow code must be deterministic: no I/O libraries.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'Workflow code must be deterministic: no process state.' },
        { name: 'setInterval', message: 'Use workflow timers (sleep / condition).' },
        { name: 'fetch', message: 'Workflow code must not do I/O; call an activity.' },
      ],
    },
  },
);
