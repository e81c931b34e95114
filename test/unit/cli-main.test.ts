import type { Command } from 'commander';
import { COMMANDS, createProgram } from '../../cli/main';

/** cli/main.ts registers a mode only when it is run, every mode for the help. */
describe('autocrane: lazy registration of the modes', () => {
  const parse = async (args: string[]): Promise<{ program: Command; out: string; error: unknown }> => {
    let out = '';
    const program = createProgram({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
    const error = await program.parseAsync(['node', 'autocrane', ...args]).then(
      () => undefined,
      (err: unknown) => err,
    );
    return { program, out, error };
  };
  const names = (program: Command) => program.commands.map((c) => c.name()).filter((n) => n !== 'help');

  it('--help registers and lists every mode, in the table order, and exits 0', async () => {
    const { program, out, error } = await parse(['--help']);
    expect(error).toMatchObject({ exitCode: 0 });
    expect(names(program)).toEqual(COMMANDS.map((c) => c.name));
    for (const { name } of COMMANDS) expect(out).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });

  it.each(COMMANDS.map((c) => c.name))('running %s registers only that mode', async (name) => {
    const { program, out, error } = await parse([name, '--help']);
    expect(error).toMatchObject({ exitCode: 0 });
    expect(names(program)).toEqual([name]);
    expect(out).toContain(`Usage: autocrane ${name}`);
  });

  it('an unknown command is still a usage error naming it, with every mode registered', async () => {
    const { program, out, error } = await parse(['deploy-data']);
    expect(error).toMatchObject({ code: 'commander.unknownCommand', exitCode: 1 });
    expect(out).toMatch(/unknown command 'deploy-data'/);
    expect(names(program)).toEqual(COMMANDS.map((c) => c.name));
  });

  it('refuses the synchronous parse, which could not import a mode', () => {
    expect(() => createProgram().parse(['node', 'autocrane', '--help'])).toThrow(/parseAsync/);
  });
});
