import { CommanderError } from 'commander';
import { createProgram } from '../../../cli/main';
import { formatRepairStatus } from '../../../cli/repair';
import { initialRepairState, planRepair, recordOutcomes, recordSweep, repairView } from '../../../domain/repair/repair';
import { failingPod, FIXED_TIME, repairPolicy } from '../../fixtures/repair';

describe('autocrane repair: arguments', () => {
  const errors: string[] = [];
  const program = () => createProgram({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
  beforeEach(() => (errors.length = 0));

  it.each([
    [['status', 'Shop'], /'Shop' is not a namespace name/],
    [['pause', 'shop', '--reason', 'x'.repeat(300)], /At most 256 characters/],
    [['resume'], /missing required argument/],
    [['restart', 'shop'], /unknown command/],
  ])('%j is a usage error', async (args, message) => {
    await expect(program().parseAsync(['node', 'autocrane', 'repair', ...args, '--api-url', 'http://127.0.0.1:1'])).rejects.toBeInstanceOf(
      CommanderError,
    );
    expect(errors.join('')).toMatch(message);
  });
});

describe('formatRepairStatus', () => {
  it('shows the state, policy, failing, held-back, evicted and refused pods', () => {
    const policy = repairPolicy({ workloadLimit: { count: 1 } });
    const a = failingPod('web-a');
    const b = failingPod('web-b');
    let state = initialRepairState('shop');
    for (let i = 0; i < 3; i++) state = recordSweep(state, { namespace: 'shop', podCount: 6, failing: [a, b], observedAt: FIXED_TIME });
    const plan = planRepair(state, { namespace: 'shop', podCount: 6, failing: [a, b], observedAt: FIXED_TIME }, policy);
    state = recordOutcomes(
      state,
      plan,
      [{ uid: a.uid, name: a.name, result: 'evicted', httpStatus: 201, message: 'ok', at: FIXED_TIME }],
      policy,
      FIXED_TIME,
    );
    const text = formatRepairStatus({
      workflowId: 'repair/shop',
      temporalUiUrl: 'http://ui/x',
      ...repairView({ ...state, paused: true, pauseReason: 'incident' }, policy),
    });
    expect(text).toContain('State:      PAUSED (incident)');
    expect(text).toContain('limits 1/workload, 100/namespace per 600 s');
    expect(text).toContain('Temporal:   http://ui/x');
    expect(text).toMatch(/Failing pods:\n {2}POD +WORKLOAD +SWEEPS +SINCE +WATCHDOGS\n {2}web-b +Deployment\/web +3 /);
    expect(text).toMatch(/Held back in the last sweep:\n.*\n {2}web-b +workload-limit +1 of Deployment\/web's 1 allowed evictions/);
    expect(text).toMatch(/Recent evictions:\n.*\n {2}2026-11-22T08:00:00.000Z +web-a +Deployment\/web +http/);
    expect(text).toMatch(/Refused or failed evictions:\n {2}none/);
  });
});
