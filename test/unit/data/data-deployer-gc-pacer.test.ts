import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** datadeployer/gc-pacer.ts with a stand-in for the gc() that --expose-gc provides. */
describe('data deployer: gc pacing', () => {
  const load = (gc: jest.Mock | undefined) => {
    const saved = (globalThis as { gc?: unknown }).gc;
    (globalThis as { gc?: unknown }).gc = gc;
    try {
      let mod: typeof import('../../../datadeployer/gc-pacer') | undefined;
      jest.isolateModules(() => {
        mod = jest.requireActual<typeof import('../../../datadeployer/gc-pacer')>('../../../datadeployer/gc-pacer');
      });
      return mod!;
    } finally {
      (globalThis as { gc?: unknown }).gc = saved;
    }
  };

  it('asks for a young-generation collection once every PACE_BYTES that flow, whatever the chunk sizes', () => {
    const gc = jest.fn();
    const { paceGc, PACE_BYTES, gcPacing } = load(gc);
    expect(gcPacing()).toBe(true);
    paceGc(PACE_BYTES - 1);
    expect(gc).not.toHaveBeenCalled();
    paceGc(1);
    expect(gc).toHaveBeenCalledTimes(1);
    expect(gc).toHaveBeenCalledWith({ type: 'minor' });
    for (let i = 0; i < 3 * 128; i++) paceGc(PACE_BYTES / 128);
    expect(gc).toHaveBeenCalledTimes(4);
  });

  it('passes the bytes through unchanged and counts them', async () => {
    const gc = jest.fn();
    const { gcPacer, PACE_BYTES } = load(gc);
    const chunks = Array.from({ length: 33 }, (_, i) => Buffer.alloc(PACE_BYTES / 8, i)); // 4⅛ × PACE_BYTES
    const out: Buffer[] = [];
    await pipeline(Readable.from(chunks), gcPacer(), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) out.push(chunk);
    });
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);
    expect(gc).toHaveBeenCalledTimes(4);
  });

  it('does nothing without --expose-gc', () => {
    const { paceGc, gcPacing, PACE_BYTES } = load(undefined);
    expect(gcPacing()).toBe(false);
    expect(() => paceGc(10 * PACE_BYTES)).not.toThrow();
  });
});
