import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DATA_DIR_LOCK_FILE, type DataDirLockOwner, lockDataDir } from './data-dir-lock.js';

const MODULE = fileURLToPath(new URL('./data-dir-lock.ts', import.meta.url));
const dirs: string[] = [];
const children: ChildProcess[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'tessera-lock-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Another process that takes the lock with the real function and prints `ok` or the refusal, then waits. */
async function holder(dir: string, command: string): Promise<{ child: ChildProcess; line: string }> {
  const code = `import(${JSON.stringify(MODULE)}).then((m) => {
    const r = m.lockDataDir(${JSON.stringify(dir)}, { command: ${JSON.stringify(command)} });
    console.log(r.ok ? 'ok' : r.error.code);
    setInterval(() => {}, 1000);
  });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const [data] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, line: data.toString().trim() };
}

/** A pid that no process has any more. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '0']);
  await once(c, 'exit');
  return c.pid!;
}

const staleOwner = (pid: number, extra: Partial<DataDirLockOwner> = {}): string =>
  JSON.stringify({
    pid,
    command: 'npm start',
    argv: ['node', 'stack/src/main.ts'],
    since: '2026-01-01T00:00:00.000Z',
    host: hostname(),
    token: 'stale',
    ...extra,
  });

describe('data directory lock', () => {
  it('takes the directory with a private file naming this process, and gives it back', () => {
    const dir = fresh();
    const r = lockDataDir(dir, { command: 'npm start' });
    assert.ok(r.ok);
    const file = join(dir, DATA_DIR_LOCK_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const owner = JSON.parse(readFileSync(file, 'utf8')) as DataDirLockOwner;
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.command, 'npm start');
    r.value.release();
    assert.equal(existsSync(file), false);
    const again = lockDataDir(dir, { command: 'npm start' });
    assert.ok(again.ok, 'free again after release');
    again.value.release();
  });

  it('refuses a second open in the same process, naming the holder', () => {
    const dir = fresh();
    const first = lockDataDir(dir, { command: 'npm start' });
    assert.ok(first.ok);
    const second = lockDataDir(dir, { command: 'npm run deploy' });
    assert.equal(second.ok, false);
    if (!second.ok) {
      assert.equal(second.error.code, 'ERR_DATA_DIR_LOCKED');
      assert.match(second.error.message, new RegExp(`in use by pid ${process.pid} \\(npm start: `));
      assert.match(
        second.error.message,
        /since \d{4}-\d\d-\d\dT.* \(\d+ s ago\); stop that process, or set TESSERA_DATA_DIR/,
      );
    }
    first.value.release();
  });

  it('refuses while another live process holds it, and takes over once that process is killed', async () => {
    const dir = fresh();
    const h = await holder(dir, 'npm start');
    assert.equal(h.line, 'ok');
    const refused = lockDataDir(dir, { command: 'npm run deploy' });
    assert.equal(refused.ok, false);
    if (!refused.ok) assert.match(refused.error.message, new RegExp(`pid ${h.child.pid} \\(npm start: `));
    h.child.kill('SIGKILL'); // no exit hook runs: the lock file stays behind
    await once(h.child, 'exit');
    assert.ok(existsSync(join(dir, DATA_DIR_LOCK_FILE)), 'a hard kill leaves the file');
    const taken = lockDataDir(dir, { command: 'npm start' });
    assert.ok(taken.ok, 'a dead holder is taken over');
    assert.equal(taken.value.owner.pid, process.pid);
    taken.value.release();
  });

  it('takes over a lock whose pid now belongs to another process (pid reuse)', async () => {
    const dir = fresh();
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    children.push(other);
    await once(other, 'spawn');
    writeFileSync(join(dir, DATA_DIR_LOCK_FILE), staleOwner(other.pid!, { started: '1' }), { mode: 0o600 });
    const r = lockDataDir(dir, { command: 'npm start' });
    assert.ok(r.ok, 'the recorded start time is not the live process: not the holder');
    r.value.release();
    other.kill('SIGKILL');
  });

  it('refuses a lock file it cannot read rather than removing it', () => {
    const dir = fresh();
    writeFileSync(join(dir, DATA_DIR_LOCK_FILE), 'not json');
    const r = lockDataDir(dir, { command: 'npm start' });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error.message, /not Tessera's or is damaged/);
    assert.equal(readFileSync(join(dir, DATA_DIR_LOCK_FILE), 'utf8'), 'not json');
  });

  it('of several processes taking over one stale lock at once, exactly one wins', async () => {
    const dir = fresh();
    writeFileSync(join(dir, DATA_DIR_LOCK_FILE), staleOwner(await deadPid()), { mode: 0o600 });
    const results = await Promise.all([1, 2, 3, 4].map((i) => holder(dir, `racer ${i}`)));
    const lines = results.map((r) => r.line).sort();
    assert.deepEqual(lines, ['ERR_DATA_DIR_LOCKED', 'ERR_DATA_DIR_LOCKED', 'ERR_DATA_DIR_LOCKED', 'ok']);
    const winner = results.find((r) => r.line === 'ok')!;
    assert.equal(
      (JSON.parse(readFileSync(join(dir, DATA_DIR_LOCK_FILE), 'utf8')) as DataDirLockOwner).pid,
      winner.child.pid,
    );
    for (const r of results) r.child.kill('SIGKILL');
  });
});
