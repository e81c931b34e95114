// Three tiers, each its own Jest project so they can be run alone:
//   unit        pure logic, no I/O
//   workflow    the real Temporal dev server, activities stubbed
//   integration the real dev server and the sandbox Kubernetes control plane
const transform = { '^.+\\.(ts|js|mjs)$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] };
// @kubernetes/client-node 1.x and a few of its dependencies ship only ES modules. Node 20
// can require() them, but Jest's module runtime cannot before Node 24.9, so swc turns
// them into CommonJS for the tests.
const esmOnlyPackages = ['@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose', 'jsonpath-plus'];
const common = {
  testEnvironment: 'node',
  transform,
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnlyPackages.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  // Stack state (etcd keeps its data in *.snap files, which Jest would take for obsolete
  // snapshots and fail the run) and build output are not part of the test tree.
  modulePathIgnorePatterns: ['<rootDir>/.autocrane/', '<rootDir>/dist/'],
};

/** @type {import('jest').Config} */
module.exports = {
  // Test files run in worker processes, never inside Jest's own: on a 2-core machine Jest
  // would otherwise run them in band, and a native crash in a test (the Temporal worker's
  // Rust core aborting, say) would kill Jest before it writes any result. Setting a memory
  // limit is what makes Jest use workers even when it has only one; a worker that grows past
  // it is replaced between test files.
  workerIdleMemoryLimit: '2GB',
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/unit-tier.ts'],
    },
    {
      ...common,
      displayName: 'workflow',
      testMatch: ['<rootDir>/test/workflow/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/workflow-setup.ts',
      globalTeardown: '<rootDir>/test/support/workflow-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/support/slow-tier.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/integration-setup.ts',
      globalTeardown: '<rootDir>/test/support/integration-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/support/slow-tier.ts'],
    },
  ],
};
