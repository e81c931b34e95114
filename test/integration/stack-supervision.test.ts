import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { down, status, up } from '../../stack/stack';
import { readState } from '../../stack/stack-state';

/** The stack reports a component that died with the tail of its log, and down stops only what it started. */
describe('stack supervision', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'autocrane-supervision-'));
  afterAll(async () => {
    await down({ stateDir, log: () => undefined });
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('a killed component shows as dead with its log tail; down leaves other processes alone', async () => {
    await up({ stateDir, kubernetes: false, log: () => undefined });
    const temporal = readState(stateDir)!.processes.temporal!;
    expect(status(stateDir)).toEqual([expect.objectContaining({ name: 'temporal', running: true })]);

    process.kill(temporal.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));

    const [reported] = status(stateDir);
    expect(reported).toMatchObject({ name: 'temporal', running: false });
    expect(reported!.logTail).toBeDefined();

    // Starting again is allowed once nothing recorded is running.
    await expect(up({ stateDir, kubernetes: false, log: () => undefined })).resolves.toMatchObject({ stateDir });
    await expect(up({ stateDir, kubernetes: false, log: () => undefined })).rejects.toThrow(/already running/);
  });
});
