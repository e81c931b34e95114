import { CommanderError } from 'commander';
import { createProgram } from '../../../cli/main';
import { formatWatchdogTable, parsePodRef } from '../../../cli/watchdog';

/** Usage errors are found before any request (main.ts turns a CommanderError into exit status 2). */
describe('autocrane watchdog: arguments', () => {
  const errors: string[] = [];
  const program = () => createProgram({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
  const run = (...args: string[]) => program().parseAsync(['node', 'autocrane', 'watchdog', ...args, '--api-url', 'http://127.0.0.1:1']);
  beforeEach(() => (errors.length = 0));

  it.each([
    [['post', 'shop-web-0', 'latency', 'info'], /Expected <namespace>\/<pod>/],
    [['post', 'Shop/web-0', 'latency', 'info'], /not a namespace name/],
    [['post', 'shop/web-0', 'bad-', 'info'], /watchdog name 'bad-'/],
    [['post', 'shop/web-0', 'latency', 'fatal'], /Expected one of info, warning, error/],
    [['post', 'shop/web-0', 'latency', 'info', 'a\nb'], /control characters/],
    [['get', 'shop/web-0', '--api-url', 'ftp://x'], /http\(s\) URL/],
    [['get'], /missing required argument/],
  ])('%j is a usage error', async (args, message) => {
    await expect(run(...args)).rejects.toBeInstanceOf(CommanderError);
    expect(errors.join('')).toMatch(message);
  });

  it('without an API URL is a usage error', async () => {
    const saved = process.env.AUTOCRANE_API_URL;
    delete process.env.AUTOCRANE_API_URL;
    try {
      await expect(program().parseAsync(['node', 'autocrane', 'watchdog', 'get', 'shop/web-0'])).rejects.toMatchObject({ exitCode: 2 });
      expect(errors.join('')).toMatch(/no API URL: pass --api-url or set AUTOCRANE_API_URL/);
    } finally {
      if (saved !== undefined) process.env.AUTOCRANE_API_URL = saved;
    }
  });

  it('parses <namespace>/<pod>', () => {
    expect(parsePodRef('shop/web-0')).toEqual({ namespace: 'shop', pod: 'web-0' });
  });

  it('prints a table with the aggregate, and unreadable values with why', () => {
    const text = formatWatchdogTable({
      namespace: 'shop',
      pod: 'web-0',
      watchdogs: [
        { name: 'disk', level: 'warning', time: '2026-11-22T05:00:00Z', message: '80% full' },
        { name: 'x', level: 'unknown', time: null, message: '', problem: 'unknown level', raw: 'bad' },
      ],
      aggregate: 'warning',
    });
    expect(text).toBe(
      [
        'NAME  LEVEL    TIME                  MESSAGE',
        'disk  warning  2026-11-22T05:00:00Z  80% full',
        'x     unknown  -                      (unreadable value "bad": unknown level)',
        '',
        'AGGREGATE: warning',
        '',
      ].join('\n'),
    );
  });
});
