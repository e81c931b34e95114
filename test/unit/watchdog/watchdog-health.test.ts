import { labelValueError } from '../../../domain/shared/k8s-names';
import {
  aggregateHealth,
  AUTOCRANE_INITIAL_AGGREGATE,
  foldLevels,
  healthLabelValue,
  levelWeight,
  moreCriticalLevel,
  parseStatus,
} from '../../../domain/watchdog/watchdog';

const TS = '2026-11-22T04:55:35Z';
const v = (level: string, message = 'm') => parseStatus(`${level}/${TS}/${message}`);

describe('levelWeight', () => {
  test.each([
    ['error', 3],
    ['Error', 3],
    ['ERROR', 3],
    ['warning', 2],
    ['Warning', 2],
    ['info', 1],
    ['INFO', 1],
    ['unknown', 0],
    ['Unknown', 0],
    ['', 0],
    ['warn', 0],
    ['errors', 0],
    [' error', 0],
  ])('%j → %d', (level, weight) => {
    expect(levelWeight(level)).toBe(weight);
  });
});

describe('moreCriticalLevel (AutoCrane table, spelling preserved)', () => {
  test.each([
    ['Unknown', 'Unknown', 'Unknown'],
    ['Unknown', 'Info', 'Info'],
    ['Info', 'Unknown', 'Info'],
    ['Unknown', 'Warning', 'Warning'],
    ['Warning', 'Info', 'Warning'],
    ['Error', 'Warning', 'Error'],
    ['Info', 'Error', 'Error'],
    // ties keep the value already held
    ['Error', 'error', 'Error'],
    ['error', 'Error', 'error'],
    ['x', 'y', 'x'],
    ['Unknown', 'bogus', 'Unknown'],
    ['bogus', 'Unknown', 'bogus'],
  ])('(%j, %j) → %j', (held, candidate, result) => {
    expect(moreCriticalLevel(held, candidate)).toBe(result);
  });

  test('unknown levels are stable: the first one is kept (AutoCrane TestStableUnknown)', () => {
    expect(moreCriticalLevel(moreCriticalLevel('x', 'y'), 'z')).toBe('x');
  });
});

describe('foldLevels (AutoCrane aggregate, spelling preserved)', () => {
  test.each<[string[], string]>([
    [[], 'Unknown'],
    [['bogus'], 'Unknown'],
    [['bogus', 'other', ''], 'Unknown'],
    [['info'], 'info'],
    [['Info', 'bogus'], 'Info'],
    [['info', 'warning'], 'warning'],
    [['warning', 'info'], 'warning'],
    [['error', 'warning', 'info'], 'error'],
    [['info', 'warning', 'error'], 'error'],
    [['Error', 'error'], 'Error'],
    [['error', 'Error'], 'error'],
    [['warning', 'ERROR', 'Error', 'error'], 'ERROR'],
  ])('%j → %j', (levels, result) => {
    expect(foldLevels(levels)).toBe(result);
  });

  test('starts from "Unknown"', () => {
    expect(AUTOCRANE_INITIAL_AGGREGATE).toBe('Unknown');
  });
});

describe('aggregateHealth', () => {
  test.each<[string, string[], string]>([
    ['empty', [], 'unknown'],
    ['single info', ['info'], 'info'],
    ['single warning', ['warning'], 'warning'],
    ['single error', ['error'], 'error'],
    ['error beats warning and info', ['info', 'error', 'warning'], 'error'],
    ['warning beats info', ['info', 'warning', 'info'], 'warning'],
    ['error first', ['error', 'info'], 'error'],
    ['error last', ['info', 'error'], 'error'],
    ['only unknown levels', ['bogus', 'Unknown', ''], 'unknown'],
    ['unknown levels do not hide info', ['bogus', 'info', 'other'], 'info'],
    ['mixed case is lowercased', ['Info', 'WARNING'], 'warning'],
    ['ties of different spelling give the same result', ['Error', 'error', 'ERROR'], 'error'],
  ])('raw level texts: %s', (_label, levels, result) => {
    expect(aggregateHealth(levels)).toBe(result);
  });

  test.each<[string, string[], string]>([
    ['none', [], 'unknown'],
    ['errors and infos', [`info/${TS}/ok`, `error/${TS}/boom`, `info/${TS}/ok`], 'error'],
    ['upper-case error counts', [`Error/${TS}/boom`, `info/${TS}/ok`], 'error'],
    // AutoCrane's aggregator test: Info, Warning and Unknown with '...' as the time → Warning.
    ['AutoCrane test values', ['Info/...', 'Warning/...', 'Unknown/...'], 'warning'],
    ['an error with a garbled time still counts as error', ['error/not-a-time/boom', `info/${TS}/ok`], 'error'],
    ['a value without "/" is ignored', ['error', `info/${TS}/ok`], 'info'],
    ['a value starting with "/" is ignored', [`/error/${TS}`, `warning/${TS}/x`], 'warning'],
    ['only unparsable values', ['garbage', 'bogus/x/y'], 'unknown'],
    ['a level merely starting with error is not error', [`errorfoo/${TS}/x`], 'unknown'],
  ])('parsed values: %s', (_label, values, result) => {
    expect(aggregateHealth(values.map(parseStatus))).toBe(result);
  });

  test('does not depend on order', () => {
    const values = [v('info'), v('Error'), v('warning'), v('bogus'), v('error')];
    const permutations = (xs: typeof values): (typeof values)[] =>
      xs.length <= 1 ? [xs] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    for (const p of permutations(values)) expect(aggregateHealth(p)).toBe('error');
  });

  test('accepts any iterable, read once', () => {
    function* gen() {
      yield v('info');
      yield v('warning');
    }
    expect(aggregateHealth(gen())).toBe('warning');
  });
});

describe('healthLabelValue', () => {
  test.each<[string, string[], string | null]>([
    ['no statuses: label removed', [], null],
    ['only unknown levels: unknown', ['bogus/x/y'], 'unknown'],
    ['info', [`info/${TS}/ok`], 'info'],
    ['warning', [`info/${TS}/ok`, `warning/${TS}/meh`], 'warning'],
    ['error', [`warning/${TS}/meh`, `ERROR/${TS}/boom`], 'error'],
  ])('%s', (_label, values, label) => {
    expect(healthLabelValue(values.map(parseStatus))).toBe(label);
  });

  test.each([['info'], ['warning'], ['error'], ['unknown']])('%j is a valid label value', (value) => {
    expect(labelValueError(value)).toBeNull();
  });

  test('works on a generator (not read twice)', () => {
    function* gen() {
      yield parseStatus(`error/${TS}/x`);
    }
    expect(healthLabelValue(gen())).toBe('error');
  });
});
