import {
  acknowledgement,
  dataGatePolicy,
  dataStagesProblems,
  describeStage,
  formatDataShare,
  judgeStageErrors,
  parseDataStageShares,
  planDataRequests,
  readRequest,
  shareError,
  type ConsumerView,
  type DataRef,
} from '../../../domain/data/data-rollout';

const LKG: DataRef = { version: '20240101T000000Z-111111111111', sha256: '1'.repeat(64) };
const NEW: DataRef = { version: '20240102T000000Z-222222222222', sha256: '2'.repeat(64) };
const OLD: DataRef = { version: '20231231T000000Z-999999999999', sha256: '9'.repeat(64) };

const consumer = (name: string, request: DataRef | null = LKG): ConsumerView => ({ name, request, status: null });

describe('planDataRequests', () => {
  it('without a rollout asks every consumer for the LKG, writing only where the request differs', () => {
    const plan = planDataRequests({
      consumers: [consumer('b'), consumer('a', null), consumer('c', NEW), consumer('d', { ...LKG, sha256: '3'.repeat(64) })],
      lkg: LKG,
      rollout: null,
    });
    expect(plan.upgraded).toEqual([]);
    expect(plan.writes).toEqual([
      { pod: 'a', ref: LKG },
      { pod: 'c', ref: LKG },
      { pod: 'd', ref: LKG },
    ]);
  });

  it('a stage takes the share of the consumers counted now, in name order, keeping those already upgraded', () => {
    const pods = ['web-3', 'web-1', 'web-4', 'web-2', 'web-5', 'web-6', 'web-7', 'web-8'].map((n) => consumer(n));
    const first = planDataRequests({ consumers: pods, lkg: LKG, rollout: { target: NEW, share: 1 } });
    expect(first).toEqual({ upgraded: ['web-1'], writes: [{ pod: 'web-1', ref: NEW }], count: 1 });

    const afterFirst = pods.map((p) => (p.name === 'web-1' ? consumer('web-1', NEW) : p));
    const second = planDataRequests({ consumers: afterFirst, lkg: LKG, rollout: { target: NEW, share: '25%' } });
    expect(second.upgraded).toEqual(['web-1', 'web-2']);
    expect(second.writes).toEqual([{ pod: 'web-2', ref: NEW }]);

    // web-7 was upgraded out of order (a retry, a new pod): it stays, and counts towards the share.
    const mixed = pods.map((p) => (p.name === 'web-7' ? consumer('web-7', NEW) : p));
    expect(planDataRequests({ consumers: mixed, lkg: LKG, rollout: { target: NEW, share: '25%' } }).upgraded).toEqual(['web-1', 'web-7']);
  });

  it('never moves an upgraded pod back within a rollout, even above the share', () => {
    const pods = [consumer('a', NEW), consumer('b', NEW), consumer('c', NEW), consumer('d')];
    const plan = planDataRequests({ consumers: pods, lkg: LKG, rollout: { target: NEW, share: 1 } });
    expect(plan).toEqual({ upgraded: ['a', 'b', 'c'], writes: [], count: 3 });
  });

  it('pods on a third version (superseded, unreadable) go to the LKG during a rollout; 100% takes everyone', () => {
    const pods = [consumer('a', OLD), consumer('b', null), consumer('c')];
    expect(planDataRequests({ consumers: pods, lkg: LKG, rollout: { target: NEW, share: 1 } }).writes).toEqual([
      { pod: 'a', ref: NEW },
      { pod: 'b', ref: LKG },
    ]);
    expect(planDataRequests({ consumers: pods, lkg: LKG, rollout: { target: NEW, share: '100%' } }).writes.map((w) => w.ref)).toEqual([
      NEW,
      NEW,
      NEW,
    ]);
  });

  it('no consumers: nothing to do', () => {
    expect(planDataRequests({ consumers: [], lkg: LKG, rollout: { target: NEW, share: '50%' } })).toEqual({
      upgraded: [],
      writes: [],
      count: 0,
    });
  });
});

describe('acknowledgement', () => {
  const at = '2024-01-02T00:00:10Z';
  it('acknowledged only for that exact version and hash, with the activation time', () => {
    expect(acknowledgement({ ...NEW, activatedAt: at }, NEW)).toEqual({ state: 'acknowledged', activatedAt: at });
    expect(acknowledgement({ version: NEW.version, sha256: LKG.sha256, activatedAt: at }, NEW).state).toBe('waiting');
    expect(acknowledgement(null, NEW)).toEqual({ state: 'waiting', detail: 'no status yet' });
    expect(acknowledgement({ ...LKG, activatedAt: at }, NEW)).toEqual({ state: 'waiting', detail: `${LKG.version} still active` });
  });

  it('an error for the version fails, unless it is older than `since` (left from an earlier request)', () => {
    const status = {
      ...LKG,
      activatedAt: at,
      error: { version: NEW.version, message: 'hash mismatch: expected …', at: '2024-01-02T00:01:00Z' },
    };
    expect(acknowledgement(status, NEW)).toEqual({ state: 'failed', message: 'hash mismatch: expected …' });
    expect(acknowledgement(status, NEW, '2024-01-02T00:00:00Z').state).toBe('failed');
    expect(acknowledgement(status, NEW, '2024-01-02T00:02:00Z').state).toBe('waiting');
    expect(acknowledgement(status, LKG).state).toBe('acknowledged');
    expect(acknowledgement({ error: { version: OLD.version, message: 'x', at } }, NEW)).toEqual({
      state: 'waiting',
      detail: 'nothing active yet',
    });
  });
});

describe('readRequest', () => {
  it('reads the JSON request; anything unreadable is null (and gets rewritten)', () => {
    expect(readRequest(JSON.stringify({ ...NEW, url: 'http://repo/x' }))).toEqual(NEW);
    expect(readRequest(undefined)).toBeNull();
    expect(readRequest('eyJQYXRoIjoiIn0=')).toBeNull();
    expect(readRequest(JSON.stringify({ ...NEW, url: 'ftp://x' }))).toBeNull();
  });
});

describe('stages', () => {
  it.each([
    [1, null],
    ['25%', null],
    ['100%', null],
    [0, '0 is not a pod count (a whole number ≥ 1)'],
    [1.5, '1.5 is not a pod count (a whole number ≥ 1)'],
    ['0%', "'0%' is not a share (expected a count like 1 or a percentage like 25%)"],
    ['101%', "'101%' is not a share (expected a count like 1 or a percentage like 25%)"],
    [null, 'expected a pod count or a percentage string'],
  ])('share %p → %p', (share, problem) => {
    expect(shareError(share)).toBe(problem);
  });

  it('parses the configured shares', () => {
    expect(parseDataStageShares('1, 25% ,100%,')).toEqual({ ok: true, shares: [1, '25%', '100%'] });
    expect(parseDataStageShares(' , ')).toEqual({
      ok: false,
      problem: 'expected a comma list of pod counts or percentages, e.g. 1,25%,100%',
    });
    expect(parseDataStageShares('1,half')).toEqual({
      ok: false,
      problem: "'half' is not a share (expected a count like 1 or a percentage like 25%)",
    });
    expect(parseDataStageShares(Array(21).fill('1').join(','))).toEqual({ ok: false, problem: 'at most 20 stages' });
  });

  it('names each problem of a start request’s stages by its path', () => {
    expect(
      dataStagesProblems([
        { pods: 1, probationSeconds: 60 },
        { pods: '100%', probationSeconds: 0 },
      ]),
    ).toEqual([]);
    expect(dataStagesProblems([])).toEqual([{ field: 'stages', message: 'expected 1 to 20 stages' }]);
    expect(dataStagesProblems('1,2')).toEqual([{ field: 'stages', message: 'expected a list of {pods, probationSeconds}' }]);
    expect(dataStagesProblems([null, { pods: '0%', probationSeconds: -1 }])).toEqual([
      { field: 'stages[0]', message: 'expected {pods, probationSeconds}' },
      { field: 'stages[1].pods', message: "'0%' is not a share (expected a count like 1 or a percentage like 25%)" },
      { field: 'stages[1].probationSeconds', message: 'expected a whole number of seconds from 0 to 86400' },
    ]);
  });

  it('describes stages in pods, not replicas', () => {
    expect([1, 3, '25%'].map(formatDataShare)).toEqual(['1 pod', '3 pods', '25%']);
    expect(describeStage({ pods: 1, probationSeconds: 60 })).toBe('1 pod of the consumers, probation 60s');
    expect(describeStage({ pods: '100%', probationSeconds: 0 })).toBe('100% of the consumers, probation 0s');
  });

  it('the gate policy: errors count at once, pods without watchdogs do not hold the stage, readiness has probation + settle time', () => {
    expect(dataGatePolicy(60, 0)).toEqual({ maxErrorPods: 0, minReadySeconds: 0, noData: 'pass', progressDeadlineSeconds: 360 });
  });
});

describe('judgeStageErrors', () => {
  const TOO_LONG = 'too-large, HTTP 422: metadata.annotations: Too long';
  test.each([
    ['nothing refused, nothing erroring: wait for the others', ['a', 'b'], [], {}, 0, false, [], ['a', 'b']],
    [
      'a refused consumer is not waited for; within maxErrorPods 1 the stage goes on',
      ['a', 'big'],
      [],
      { big: TOO_LONG },
      1,
      false,
      ['big'],
      ['a'],
    ],
    ['a refused consumer with maxErrorPods 0 fails the stage at once', ['a', 'big'], [], { big: TOO_LONG }, 0, true, ['big'], ['a']],
    [
      'a refused consumer and a watchdog error count together, within maxErrorPods 2',
      ['big'],
      ['c'],
      { big: TOO_LONG },
      2,
      false,
      ['big'],
      [],
    ],
    ['a refused waiting consumer plus a watchdog error, maxErrorPods 1: failed', ['big'], ['c'], { big: TOO_LONG }, 1, true, ['big'], []],
    ['the same pod refused and erroring counts once', ['big'], ['big'], { big: TOO_LONG }, 1, false, ['big'], []],
    ['a refused pod that has acknowledged since is no error', ['a'], [], { big: TOO_LONG }, 0, false, [], ['a']],
    ['watchdog errors alone over the limit fail', ['a'], ['c', 'd'], {}, 1, true, [], ['a']],
  ] as const)('%s', (_name, waiting, watchdogErroring, refused, maxErrorPods, failed, refusedPods, stillWaiting) => {
    const errors = judgeStageErrors({ waiting, watchdogErroring, refused: new Map(Object.entries(refused)), maxErrorPods });
    expect(errors.failed).toBe(failed);
    expect(errors.refused.map((r) => r.pod)).toEqual(refusedPods);
    expect(errors.waiting).toEqual(stillWaiting);
  });

  test('the reason names each refused pod and why', () => {
    const errors = judgeStageErrors({ waiting: ['big'], watchdogErroring: ['c'], refused: new Map([['big', TOO_LONG]]), maxErrorPods: 1 });
    expect(errors.reason).toBe(
      `2 erroring pod(s), more than maxErrorPods 1: watchdog errors on c; the apiserver refused the request to big (${TOO_LONG})`,
    );
    expect(errors.refused).toEqual([{ pod: 'big', reason: TOO_LONG }]);
  });
});
