import request from 'supertest';
import { createApp, type ReadinessCheck } from '../../api/app';
import { createMetricsRegistry } from '../../platform/metrics';
import { captureLogs } from '../support/logs';

const ok: ReadinessCheck = () => Promise.resolve();

function appWith(checks: { temporal?: ReadinessCheck; kubernetes?: ReadinessCheck } = {}, checkTimeoutMs?: number) {
  const { lines, logger } = captureLogs();
  const app = createApp({
    logger,
    registry: createMetricsRegistry(),
    checks: { temporal: checks.temporal ?? ok, kubernetes: checks.kubernetes ?? ok },
    checkTimeoutMs,
  });
  return { app, lines };
}

describe('api app', () => {
  it('GET /healthz answers ok', async () => {
    const res = await request(appWith().app).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /readyz is ready when both checks pass', async () => {
    const res = await request(appWith().app).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', checks: { temporal: 'ok', kubernetes: 'ok' } });
  });

  it('GET /readyz names the failing component and why', async () => {
    const kubernetes = () => Promise.reject(new Error('Kubernetes apiserver https://127.0.0.1:6443: answered HTTP 403'));
    const res = await request(appWith({ kubernetes }).app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      status: 'unready',
      checks: { temporal: 'ok', kubernetes: 'Kubernetes apiserver https://127.0.0.1:6443: answered HTTP 403' },
    });
  });

  it('GET /readyz runs the checks concurrently and bounds each by the timeout', async () => {
    let resolveTemporal: () => void = () => undefined;
    const temporal = () => new Promise<void>((resolve) => (resolveTemporal = resolve));
    const started = Date.now();
    const res = await request(appWith({ temporal }, 50).app).get('/readyz');
    resolveTemporal();
    expect(res.status).toBe(503);
    expect(res.body.checks).toEqual({ temporal: 'no answer within 50 ms', kubernetes: 'ok' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('GET /metrics serves Prometheus text with default and HTTP metrics', async () => {
    const { app } = appWith();
    await request(app).get('/healthz');
    const res = await request(app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.text).toContain('# TYPE autocrane_process_cpu_user_seconds_total counter');
    expect(res.text).toMatch(/autocrane_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} 1/);
  });

  it('answers an unknown route with a JSON 404', async () => {
    const res = await request(appWith().app).get('/nope?x=1');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({ error: 'no route for GET /nope', details: [] });
  });

  it('logs requests without headers or query strings', async () => {
    const { app, lines } = appWith();
    await request(app).get('/nope?token=q-secret').set('Authorization', 'Bearer h-secret');
    const logged = JSON.stringify(lines);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'request', method: 'GET', path: '/nope', status: 404 }));
    expect(logged).not.toContain('h-secret');
    expect(logged).not.toContain('q-secret');
  });
});
