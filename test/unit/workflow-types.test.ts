import * as workflowTypes from '../../contracts/workflow-types';
import type * as registered from '../../workflows';

type Registered = keyof typeof registered;
// Compile-time: every constant names a registered workflow function.
const checked: Record<keyof typeof workflowTypes, Registered> = workflowTypes;

describe('workflow type names', () => {
  it('each names a workflow the worker registers', async () => {
    const workflows = (await import('../../workflows')) as Record<string, unknown>;
    for (const name of Object.values(checked)) expect(typeof workflows[name]).toBe('function');
  });
});
