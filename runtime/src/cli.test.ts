import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('./cli.ts', import.meta.url));

/** A one-command program whose action is `body`, run as a process: its exit code and its stderr. */
function program(body: string, args: string[] = ['go']): Promise<{ code: number; err: string; out: string }> {
  const code = `
    const { cliProgram, finishProgram, runCli, CliFailure, usageError } = await import(${JSON.stringify(MODULE)});
    const p = cliProgram({ name: 'npm run t --', description: 'test', exitCodes: [{ code: 5, meaning: 'five' }] });
    p.command('go').action(async () => { ${body} });
    await runCli(finishProgram(p), ['node', 't', ...${JSON.stringify(args)}]);`;
  return new Promise((resolve) =>
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], (e, out, err) =>
      resolve({ code: e ? Number(e.code ?? 1) : 0, err, out }),
    ),
  );
}

const oneLine = (err: string) => {
  assert.equal(err.trimEnd().split('\n').length, 1, err);
  assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
};

describe('command-line conventions', () => {
  it('prints a coded failure as one line and exits 1, or with the exit code it names', async () => {
    const coded = await program(
      "const e = new Error('not yours'); e.name = 'TesseraError'; e.code = 'ERR_FORBIDDEN'; throw e;",
    );
    assert.equal(coded.code, 1);
    assert.equal(coded.err, 'error ERR_FORBIDDEN: not yours\n');
    const own = await program("throw new CliFailure('ERR_DEVICE_REVOKED', 'gone', 5);");
    assert.equal(own.code, 5);
    assert.equal(own.err, 'error ERR_DEVICE_REVOKED: gone\n');
  });

  it('turns an unexpected throw, a later crash and a missing file into one ERR_ line, never a stack', async () => {
    const thrown = await program("throw new Error('boom');");
    assert.equal(thrown.code, 1);
    assert.equal(thrown.err, 'error ERR_INTERNAL: boom\n');
    const later = await program("setTimeout(() => { throw new Error('later'); }, 10);");
    assert.equal(later.code, 1);
    oneLine(later.err);
    assert.match(later.err, /^error ERR_INTERNAL: later$/m);
    const missing = await program("(await import('node:fs')).readFileSync('/nonexistent/x');");
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^error ERR_NOT_FOUND: ENOENT: no such file or directory/);
  });

  it('says where a service that does not answer is, and what usually fixes it', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    await new Promise((r) => server.close(r)); // the port is free again: nobody answers
    const r = await program(`await fetch('http://127.0.0.1:${port}/x');`);
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      `error ERR_UNAVAILABLE: cannot reach the service 127.0.0.1:${port} (ECONNREFUSED); is the stack running (npm start), and is the URL right?\n`,
    );
  });

  it('usage errors exit 2 with a hint; help exits 0 and lists the exit codes; no command is a usage error', async () => {
    const usage = await program("throw usageError('give --x');");
    assert.equal(usage.code, 2);
    assert.equal(usage.err, 'error ERR_USAGE: give --x\n');
    const unknown = await program('', ['go', '--nope']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.err, "error ERR_USAGE: unknown option '--nope'\n(npm run t -- go --help shows the usage)\n");
    const help = await program('', ['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /Exit codes:\n {2}0 {2}done\n {2}1 {2}failed.*\n {2}2 {2}usage error.*\n {2}5 {2}five\n/);
    const none = await program('', []);
    assert.equal(none.code, 2);
    assert.match(none.err, /error ERR_USAGE: name a command \(listed above\)\n$/);
  });
});
