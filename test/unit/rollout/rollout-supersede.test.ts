import { ROLLOUT_STATES, TERMINAL_STATES, type RolloutState } from '../../../domain/gate/stage-controls';
import { decideSupersede, supersededReason, waitingReason } from '../../../domain/rollout/rollout-supersede';

const ctx = (state: RolloutState, supersededBy: string | null = null) => ({ rolloutId: 'old', state, supersededBy });

describe('decideSupersede', () => {
  const open = ROLLOUT_STATES.filter(
    (s) => s !== 'RollingBack' && s !== 'Promoting' && !(TERMINAL_STATES as readonly string[]).includes(s),
  );

  it('has states to test on both sides', () => {
    expect(open).toEqual(expect.arrayContaining(['Pending', 'Progressing', 'Baking', 'AwaitingApproval', 'Paused', 'Frozen']));
    expect(TERMINAL_STATES.length).toBeGreaterThan(0);
  });

  it.each(open)('accepts a first superseder while %s', (state) => {
    expect(decideSupersede(ctx(state), 'new')).toEqual({ accepted: true, repeat: false });
  });

  it('refuses a first superseder while Promoting: the promotion cannot be interrupted (the API waits for it to end, then starts)', () => {
    expect(decideSupersede(ctx('Promoting'), 'new')).toEqual({
      accepted: false,
      reason: 'supersede: rollout old is promoting, which cannot be interrupted; start again once it has ended',
    });
  });

  it.each(['RollingBack', ...TERMINAL_STATES] as RolloutState[])(
    'refuses a first superseder once %s: nothing is left to supersede',
    (state) => {
      expect(decideSupersede(ctx(state), 'new')).toEqual({
        accepted: false,
        reason: `supersede: rollout old is ${state} and can no longer be superseded`,
      });
    },
  );

  it.each(ROLLOUT_STATES)('accepts the same superseder again as a repeat, even while %s (a client retrying its start)', (state) => {
    expect(decideSupersede(ctx(state, 'new'), 'new')).toEqual({ accepted: true, repeat: true });
  });

  it.each(ROLLOUT_STATES)('refuses a different superseder while %s: the first keeps its place', (state) => {
    expect(decideSupersede(ctx(state, 'first'), 'second')).toEqual({
      accepted: false,
      reason: 'supersede: rollout old is already superseded by rollout first, which starts once it has rolled back',
    });
  });
});

describe('supersede reasons', () => {
  it('name the other rollout', () => {
    expect(supersededReason('new')).toBe('superseded by rollout new; rolling back before it starts');
    expect(waitingReason('old')).toContain('waiting for rollout old');
  });
});
