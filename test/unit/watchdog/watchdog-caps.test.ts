import { checkWatchdogCaps } from '../../../domain/watchdog/watchdog-caps';

const caps = { maxWatchdogsPerPod: 2, maxStatusBytesPerPod: 100 };
const value = (message: string) => `info/2026-12-07T10:00:00Z/${message}`;
const foreign = { 'team.example.com/notes': 'x'.repeat(500), 'probe.autocrane.io/http': 'POD_IP:80/' };

describe('checkWatchdogCaps', () => {
  test.each([
    ['a first watchdog', {}, 'a', value('ok'), null],
    ['other annotations do not count', foreign, 'a', value('ok'), null],
    [
      'rewriting an existing watchdog does not add one',
      { 'status.autocrane.io/a': value(''), 'status.autocrane.io/b': value('') },
      'a',
      value('ok'),
      null,
    ],
    [
      'one more than the cap: 409 naming name',
      { 'status.autocrane.io/a': value(''), 'status.autocrane.io/b': value('') },
      'c',
      value('ok'),
      { status: 409, field: 'name' },
    ],
    // key 21 + value 26 + message: 47 + 53 = 100 bytes fits, 54 does not.
    ['exactly the byte cap fits', {}, 'a', value('m'.repeat(53)), null],
    ['one byte over: 422 naming message', {}, 'a', value('m'.repeat(54)), { status: 422, field: 'message' }],
    ['bytes are UTF-8 bytes', {}, 'a', value('é'.repeat(27)), { status: 422, field: 'message' }],
    [
      'the others count, the one being replaced does not',
      { 'status.autocrane.io/b': value('') },
      'a',
      value('m'.repeat(10)),
      { status: 422, field: 'message' },
    ],
  ])('%s', (_name, annotations, name, written, expected) => {
    const violation = checkWatchdogCaps(annotations, name, written, caps);
    if (expected === null) expect(violation).toBeNull();
    else expect(violation).toMatchObject(expected);
  });
});
