// Two kinds of rules beyond the recommended ones:
// - Workflow code runs in Temporal's deterministic sandbox: it may not touch Node built-ins
//   or do I/O, and an un-awaited promise there is almost always a bug. The shared contracts
//   are bundled into workflows, so the same rules hold for them.
// - The layers: domain/ is pure; contracts/ and workflows/ orchestrate; activities/, api/ and
//   the two data services are adapters; workers/ and cli/ wire everything. No layer imports
//   the one above it. Enforced here so a wrong arrow fails `make check`, not a review.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const ioLibraries = [
  '@kubernetes/*',
  'express',
  'pino',
  'pino-*',
  'prom-client',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
];
const folders = (...names) => names.flatMap((n) => [`**/${n}`, `**/${n}/**`]);

/** One no-restricted-imports rule per folder: ESLint keeps only the last one set for a file. */
const restrict = (files, { builtins, patterns }) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: builtins ? nodeBuiltins.map((name) => ({ name, message: builtins })) : [],
        patterns,
      },
    ],
  },
});

const deterministic = 'Workflow code must be deterministic: no Node built-ins.';
const workflowPatterns = [
  {
    group: folders('activities'),
    allowTypeImports: true,
    message: 'Workflows may import only the types of activities (use proxyActivities).',
  },
  { group: [...ioLibraries, ...folders('platform')], message: 'Workflow code must be deterministic: no I/O libraries.' },
  {
    group: folders('api', 'workers', 'cli', 'stack', 'datarepository', 'datadeployer'),
    message: 'Workflows sit below the API, workers and CLI: they may import domain/ and contracts/ only.',
  },
];

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
  restrict(['domain/**/*.ts'], {
    builtins: 'domain/ is pure logic: no Node built-ins (pass what it needs in).',
    patterns: [
      { group: [...ioLibraries, '@temporalio/*'], message: 'domain/ is pure logic: no I/O or Temporal libraries.' },
      {
        group: folders(
          'platform',
          'activities',
          'api',
          'workflows',
          'contracts',
          'workers',
          'cli',
          'stack',
          'datarepository',
          'datadeployer',
        ),
        message: 'domain/ is the bottom layer: it imports only domain/.',
      },
    ],
  }),
  restrict(['contracts/**/*.ts'], {
    builtins: deterministic,
    patterns: [
      ...workflowPatterns,
      { group: folders('workflows'), message: 'contracts/ is shared by clients and workflows: it may import domain/ only.' },
    ],
  }),
  restrict(['workflows/**/*.ts'], { builtins: deterministic, patterns: workflowPatterns }),
  restrict(['activities/**/*.ts'], {
    patterns: [
      {
        group: folders('workflows', 'api', 'workers', 'cli', 'stack'),
        message: 'activities/ are adapters below workflows, API, workers and CLI: shared shapes live in domain/ or contracts/.',
      },
    ],
  }),
  restrict(['api/**/*.ts'], {
    patterns: [
      {
        group: folders('workflows', 'workers', 'cli', 'stack'),
        message: 'api/ talks to workflows through contracts/ and a Temporal client, never by importing workflows/.',
      },
      { regex: '(^|/)activities/(?!shared/)', message: 'api/ may use only the Kubernetes adapters in activities/shared/.' },
    ],
  }),
  restrict(['platform/**/*.ts'], {
    patterns: [
      {
        group: folders('activities', 'api', 'workflows', 'contracts', 'workers', 'cli', 'stack', 'datarepository', 'datadeployer'),
        message: 'platform/ is the I/O toolbox under every adapter: it imports only domain/.',
      },
    ],
  }),
  restrict(['datarepository/**/*.ts', 'datadeployer/**/*.ts'], {
    patterns: [
      {
        group: folders('activities', 'api', 'workflows', 'workers', 'cli', 'stack'),
        message: 'The data services are their own processes: they import domain/ and platform/ only.',
      },
    ],
  }),
  {
    files: ['workflows/**/*.ts', 'contracts/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'Workflow code must be deterministic: no process state.' },
        { name: 'setInterval', message: 'Use workflow timers (sleep / condition).' },
        { name: 'fetch', message: 'Workflow code must not do I/O; call an activity.' },
      ],
    },
  },
);
