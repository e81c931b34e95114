import { CommanderError } from 'commander';
import request from 'supertest';
import { createProgram } from '../../cli/main';
import { createTestWorkloadServer, MAX_FAIL_SECONDS } from '../../cli/test-workload';
import { captureLogs } from '../support/logs';

const START = Date.parse('2026-01-01T00:00:00.000Z');

function workload() {
  const clock = { ms: START };
  const { lines, logger } = captureLogs();
  const app = createTestWorkloadServer({ logger, now: () => clock.ms });
  const advance = (seconds: number) => {
    clock.ms += seconds * 1000;
  };
  return { app, lines, advance };
}

describe('test workload', () => {
  it('is healthy by default, for the process and for any pod', async () => {
    const { app, lines } = workload();
    const res = await request(app).get('/watchdog');
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok');
    expect((await request(app).get('/watchdog/never-heard-of-it')).status).toBe(200);
    expect(lines).toEqual([]); // probes are not logged
  });

  it('fails on POST /fail until POST /recover', async () => {
    const { app, lines, advance } = workload();
    const failed = await request(app).post('/fail');
    expect(failed.status).toBe(200);
    expect(failed.body).toEqual({
      pod: null,
      healthy: false,
      failingSince: '2026-01-01T00:00:00.000Z',
      failingUntil: null,
      slowMs: 0,
    });

    advance(3600);
    const probe = await request(app).get('/watchdog');
    expect(probe.status).toBe(500);
    expect(probe.text).toMatch(/^failing .*since 2026-01-01T00:00:00.000Z, until POST \/recover$/);

    const recovered = await request(app).post('/recover');
    expect(recovered.status).toBe(200);
    expect(recovered.body).toEqual({ pod: null, healthy: true, failingSince: null, failingUntil: null, slowMs: 0 });
    expect((await request(app).get('/watchdog')).status).toBe(200);

    // One line per state change; recovering a healthy target changes nothing.
    await request(app).post('/recover');
    expect(lines.map((l) => l.msg)).toEqual(['failing', 'recovered']);
    expect(lines[0]).toMatchObject({ component: 'test-workload', pod: null, seconds: null });
  });

  it('recovers by itself when a timed failure expires', async () => {
    const { app, lines, advance } = workload();
    const failed = await request(app).post('/fail').send({ seconds: 30 });
    expect(failed.body).toMatchObject({ healthy: false, failingUntil: '2026-01-01T00:00:30.000Z' });

    advance(29);
    const probe = await request(app).get('/watchdog');
    expect(probe.status).toBe(500);
    expect(probe.text).toContain('until 2026-01-01T00:00:30.000Z (1s left)');

    advance(1);
    expect((await request(app).get('/watchdog')).status).toBe(200);
    expect((await request(app).get('/watchdog')).status).toBe(200);
    expect(lines.map((l) => l.msg)).toEqual(['failing', 'failure expired']);
    expect(lines[1]).toMatchObject({ pod: null, expiredAt: '2026-01-01T00:00:30.000Z' });
  });

  it('takes seconds from the query string too, with any content type', async () => {
    const { app, advance } = workload();
    await request(app).post('/fail/pod-a?seconds=0.5');
    // curl -d sends application/x-www-form-urlencoded; the JSON body still counts.
    await request(app).post('/fail/pod-b').type('form').send('{"seconds": 2}');
    advance(1);
    expect((await request(app).get('/watchdog/pod-a')).status).toBe(200);
    expect((await request(app).get('/watchdog/pod-b')).status).toBe(500);
  });

  it('keeps a failure start time when the failure is extended', async () => {
    const { app, advance } = workload();
    await request(app).post('/fail').send({ seconds: 10 });
    advance(5);
    const extended = await request(app).post('/fail').send({ seconds: 10 });
    expect(extended.body).toMatchObject({ failingSince: '2026-01-01T00:00:00.000Z', failingUntil: '2026-01-01T00:00:15.000Z' });
  });

  it('keeps each pod its own state', async () => {
    const { app } = workload();
    const failed = await request(app).post('/fail/pod-a');
    expect(failed.body).toMatchObject({ pod: 'pod-a', healthy: false });

    expect((await request(app).get('/watchdog/pod-a')).status).toBe(500);
    expect((await request(app).get('/watchdog/pod-a')).text).toMatch(/^pod pod-a failing/);
    expect((await request(app).get('/watchdog/pod-b')).status).toBe(200);
    expect((await request(app).get('/watchdog')).status).toBe(200);

    await request(app).post('/fail');
    await request(app).post('/recover/pod-a');
    expect((await request(app).get('/watchdog/pod-a')).status).toBe(200);
    expect((await request(app).get('/watchdog')).status).toBe(500);
  });

  it('delays /watchdog answers after POST /slow, until POST /recover', async () => {
    const { app } = workload();
    const slowed = await request(app).post('/slow/pod-a').send({ ms: 150 });
    expect(slowed.body).toEqual({ pod: 'pod-a', healthy: true, failingSince: null, failingUntil: null, slowMs: 150 });

    let started = Date.now();
    const slow = await request(app).get('/watchdog/pod-a');
    expect(slow.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    started = Date.now();
    await request(app).get('/watchdog/pod-b');
    expect(Date.now() - started).toBeLessThan(140);

    await request(app).post('/recover/pod-a');
    started = Date.now();
    await request(app).get('/watchdog/pod-a');
    expect(Date.now() - started).toBeLessThan(140);
  });

  it('gives up a delayed answer when the client goes away', async () => {
    const { app } = workload();
    await request(app).post('/slow').send({ ms: 60_000 });
    await expect(request(app).get('/watchdog').timeout(50)).rejects.toThrow(/Timeout/);
  });

  it('clears a delay with ms 0', async () => {
    const { app } = workload();
    await request(app).post('/slow').send({ ms: 500 });
    const cleared = await request(app).post('/slow').send({ ms: 0 });
    expect(cleared.body).toMatchObject({ slowMs: 0 });
    expect((await request(app).get('/state')).body.process).toMatchObject({ slowMs: 0 });
  });

  it.each([
    ['/fail', { seconds: -1 }, 'seconds', /more than 0/],
    ['/fail', { seconds: 0 }, 'seconds', /more than 0/],
    ['/fail', { seconds: 'ten' }, 'seconds', /expected a number/],
    ['/fail/pod-a', { seconds: MAX_FAIL_SECONDS + 1 }, 'seconds', /at most 86400/],
    ['/fail', { second: 5 }, 'second', /unknown field, expected seconds/],
    ['/fail', [5], 'body', /JSON object/],
    ['/slow', {}, 'ms', /required/],
    ['/slow', { ms: -5 }, 'ms', /negative/],
    ['/slow', { ms: 1.5 }, 'ms', /whole number/],
    ['/slow/pod-a', { ms: 86_400_001 }, 'ms', /at most 86400000/],
    ['/recover', { seconds: 1 }, 'seconds', /takes no parameters/],
  ])('refuses POST %s %j naming the field', async (path, body, field, message) => {
    const { app, lines } = workload();
    const res = await request(app)
      .post(path)
      .send(body as object);
    expect(res.status).toBe(400);
    expect(res.body.error).toContain(field);
    expect(res.body.details).toEqual([{ field, message: expect.stringMatching(message) }]);
    expect(lines).toEqual([]);
  });

  it('refuses bad query values, parameters given twice, bad JSON and bad pod names', async () => {
    const { app } = workload();
    const query = await request(app).post('/fail?seconds=abc');
    expect(query.status).toBe(400);
    expect(query.body.details).toEqual([{ field: 'seconds', message: 'expected a number of seconds' }]);

    const twice = await request(app).post('/fail?seconds=1').send({ seconds: 2 });
    expect(twice.status).toBe(400);
    expect(twice.body.details[0]).toMatchObject({ field: 'seconds' });

    const badJson = await request(app).post('/fail').type('json').send('{"seconds": ');
    expect(badJson.status).toBe(400);
    expect(badJson.body).toMatchObject({ error: expect.stringMatching(/^invalid JSON body/), details: [{ field: 'body' }] });

    const badPod = await request(app).post('/fail/Not_A_Pod');
    expect(badPod.status).toBe(400);
    expect(badPod.body).toMatchObject({ error: expect.stringMatching(/^invalid pod: 'Not_A_Pod'/), details: [{ field: 'pod' }] });

    const noRoute = await request(app).get('/fail');
    expect(noRoute.status).toBe(404);
    expect(noRoute.body).toEqual({ error: 'no route for GET /fail', details: [] });
  });

  it('reports the process state and every failing or slow pod in GET /state', async () => {
    const { app, advance } = workload();
    await request(app).post('/fail/pod-b');
    await request(app).post('/fail/pod-a').send({ seconds: 60 });
    await request(app).post('/fail/pod-gone').send({ seconds: 1 });
    await request(app).post('/slow/pod-c').send({ ms: 25 });
    await request(app).post('/fail/pod-recovered');
    await request(app).post('/recover/pod-recovered');
    advance(10);

    const res = await request(app).get('/state');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      now: '2026-01-01T00:00:10.000Z',
      process: { pod: null, healthy: true, failingSince: null, failingUntil: null, slowMs: 0 },
      pods: [
        { pod: 'pod-a', healthy: false, failingSince: '2026-01-01T00:00:00.000Z', failingUntil: '2026-01-01T00:01:00.000Z', slowMs: 0 },
        { pod: 'pod-b', healthy: false, failingSince: '2026-01-01T00:00:00.000Z', failingUntil: null, slowMs: 0 },
        { pod: 'pod-c', healthy: true, failingSince: null, failingUntil: null, slowMs: 25 },
      ],
    });
  });
});

describe('autocrane CLI', () => {
  function parse(...args: string[]) {
    const errors: string[] = [];
    const program = createProgram({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
    return { result: program.parseAsync(['node', 'autocrane', ...args]), errors };
  }

  it.each([
    [['test-workload', '--port', 'http'], /option '--port <port>' argument 'http' is invalid/],
    [['test-workload', '--port', '70000'], /0 to 65535/],
    [['test-workload', '--bogus'], /unknown option '--bogus'/],
    [['no-such-mode'], /unknown command 'no-such-mode'/],
  ])('refuses %j with a usage error', async (args, message) => {
    const { result, errors } = parse(...args);
    await expect(result).rejects.toBeInstanceOf(CommanderError);
    expect(errors.join('')).toMatch(message);
  });
});
