import { Writable } from 'node:stream';
import { createLogger } from '../../platform/logger';
import { createTemporalLogger } from '../../platform/temporal-logging';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, stream };
}

describe('createLogger', () => {
  it('writes JSON with level names and redacts secrets', () => {
    const { lines, stream } = capture();
    const logger = createLogger({ log: { level: 'info', format: 'json' } }, stream);
    logger.info({ token: 't1', request: { token: 't2', headers: { authorization: 'Bearer t3' } } }, 'hello');
    logger.debug('below the level');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'hello', token: '[redacted]', request: { token: '[redacted]' } });
    expect(JSON.stringify(lines)).not.toMatch(/t1|t2|t3/);
  });
});

describe('createTemporalLogger', () => {
  it('keeps the message of the errors Temporal reports under `error`', () => {
    const { lines, stream } = capture();
    const temporal = createTemporalLogger(createLogger({ log: { level: 'info', format: 'json' } }, stream));
    temporal.warn('Activity failed', { error: new Error('list nodes: apiserver answered HTTP 403') });
    expect(lines[0]).toMatchObject({ error: { type: 'Error', message: 'list nodes: apiserver answered HTTP 403' } });
  });

  it('forwards each level with its metadata under component temporal', () => {
    const { lines, stream } = capture();
    const temporal = createTemporalLogger(createLogger({ log: { level: 'trace', format: 'json' } }, stream));
    temporal.trace('t', { sdkComponent: 'core' });
    temporal.debug('d');
    temporal.info('i', { workflowId: 'wf-1' });
    temporal.warn('w');
    temporal.error('e', { attempt: 3 });
    temporal.log('WARN', 'via log', { taskQueue: 'q' });
    expect(lines.map(({ level, msg }) => [level, msg])).toEqual([
      ['trace', 't'],
      ['debug', 'd'],
      ['info', 'i'],
      ['warn', 'w'],
      ['error', 'e'],
      ['warn', 'via log'],
    ]);
    expect(lines.every((l) => l.component === 'temporal')).toBe(true);
    expect(lines[0]).toMatchObject({ sdkComponent: 'core' });
    expect(lines[2]).toMatchObject({ workflowId: 'wf-1' });
    expect(lines[4]).toMatchObject({ attempt: 3 });
    expect(lines[5]).toMatchObject({ taskQueue: 'q' });
  });

  it('respects the pino level', () => {
    const { lines, stream } = capture();
    const temporal = createTemporalLogger(createLogger({ log: { level: 'warn', format: 'json' } }, stream));
    temporal.info('dropped');
    temporal.error('kept');
    expect(lines.map((l) => l.msg)).toEqual(['kept']);
  });
});
