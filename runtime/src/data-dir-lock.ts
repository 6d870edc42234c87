import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { err, ok, type Result } from '@tessera/protocol';

/** The lock file in a data directory: one process at a time opens the directory. */
export const DATA_DIR_LOCK_FILE = 'tessera.lock';

/** What the lock file says about its holder (JSON, mode 0600). */
export interface DataDirLockOwner {
  pid: number;
  /** What the holder is, as a person typed it (for example `npm start`). */
  command: string;
  /** The holder's command line. */
  argv: string[];
  /** When it took the lock (ISO 8601). */
  since: string;
  host: string;
  /** The holder's start time in clock ticks since boot (Linux), so a reused pid is not mistaken for the holder. */
  started?: string;
  /** Random per lock: release removes only its own file. */
  token: string;
}

export interface DataDirLock {
  readonly file: string;
  readonly owner: DataDirLockOwner;
  /** Remove the lock if it is still this one (idempotent). */
  release(): void;
}

/** The locks this process holds, by file: a second open of one directory in one process is refused too. */
const held = new Map<string, DataDirLock>();
let exitHook = false;

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot (Linux only). */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may contain spaces: count from the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // it exists, it is just not ours
  }
}

function readJson(file: string): Record<string, unknown> | undefined | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : 'unreadable';
  }
  try {
    const o = JSON.parse(text) as unknown;
    return typeof o === 'object' && o !== null && Number.isSafeInteger((o as { pid?: unknown }).pid)
      ? (o as Record<string, unknown>)
      : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

function readOwner(file: string): DataDirLockOwner | undefined | 'unreadable' {
  const o = readJson(file);
  if (o === undefined || o === 'unreadable') return o;
  return typeof o['token'] === 'string' && Array.isArray(o['argv']) ? (o as unknown as DataDirLockOwner) : 'unreadable';
}

/** Whether the recorded holder still runs: same host, its pid alive, and (where the system tells) the same process. */
function holderRuns(o: DataDirLockOwner): boolean {
  if (o.host !== hostname()) return true; // cannot look at another machine's processes: assume it runs
  if (o.pid === process.pid) return held.get(o.token) !== undefined;
  if (!alive(o.pid)) return false;
  const now = startTicks(o.pid);
  return o.started === undefined || now === undefined || now === o.started;
}

const ago = (since: string, now: number): string => {
  const s = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};

/** The one-line description of a holder that an error shows. */
export function describeOwner(o: DataDirLockOwner, now = Date.now()): string {
  const argv = o.argv.join(' ');
  const line = argv.length > 160 ? `${argv.slice(0, 157)}...` : argv;
  return `pid ${o.pid} (${o.command}: ${line})${o.host === hostname() ? '' : ` on ${o.host}`} since ${o.since} (${ago(o.since, now)})`;
}

/** Write `content` to a new file and link it in as `file`: the lock appears complete, or not at all. */
function linkNew(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Take the data directory for this process: `<dir>/tessera.lock` names the holder (pid, command, since when). A lock
 * whose holder is gone (its pid dead, or reused by another process) is taken over; a live holder is named in
 * ERR_DATA_DIR_LOCKED. The directory must exist. Released by `release()` or when the process exits.
 *
 * @example const lock = lockDataDir('.tessera', { command: 'npm start' }); if (!lock.ok) fail(lock.error);
 */
export function lockDataDir(dir: string, o: { command: string; now?: () => number }): Result<DataDirLock> {
  const file = join(dir, DATA_DIR_LOCK_FILE);
  const now = o.now ?? Date.now;
  const owner: DataDirLockOwner = {
    pid: process.pid,
    command: o.command,
    argv: process.argv.slice(0, 8).map((a) => a.slice(0, 200)),
    since: new Date(now()).toISOString(),
    host: hostname(),
    token: randomBytes(12).toString('hex'),
  };
  const started = startTicks(process.pid);
  if (started !== undefined) owner.started = started;
  const content = `${JSON.stringify(owner)}\n`;
  const refused = (holder: DataDirLockOwner) =>
    err(
      'ERR_DATA_DIR_LOCKED',
      `data directory ${dir} is in use by ${describeOwner(holder, now())}; stop that process, or set TESSERA_DATA_DIR to another directory`,
      { file, holder: { pid: holder.pid, command: holder.command, since: holder.since, host: holder.host } },
    );

  for (let attempt = 0; attempt < 50; attempt++) {
    if (linkNew(file, content)) {
      const lock: DataDirLock = {
        file,
        owner,
        release: () => {
          if (held.get(owner.token) !== lock) return;
          held.delete(owner.token);
          const current = readOwner(file);
          if (current !== undefined && current !== 'unreadable' && current.token === owner.token)
            rmSync(file, { force: true });
        },
      };
      held.set(owner.token, lock);
      if (!exitHook) {
        exitHook = true;
        process.once('exit', () => {
          for (const l of [...held.values()]) l.release();
        });
      }
      return ok(lock);
    }
    const current = readOwner(file);
    if (current === undefined) continue; // released in between: try again
    if (current === 'unreadable') {
      // Never written by linkNew (which links complete files): someone else's file, or a disk that lost it.
      return err(
        'ERR_DATA_DIR_LOCKED',
        `data directory ${dir} has a lock file ${file} that is not Tessera's or is damaged; if no Tessera process uses the directory, delete it`,
        { file },
      );
    }
    if (holderRuns(current)) return refused(current);
    // Stale: take it over under a short-lived mutex, so two starting processes do not both remove it.
    const mutex = `${file}.takeover`;
    if (!linkNew(mutex, `${JSON.stringify({ pid: process.pid, started })}\n`)) {
      const m = readJson(mutex);
      if (typeof m === 'object' && !alive(m['pid'] as number)) rmSync(mutex, { force: true });
      sleepSync(20);
      continue;
    }
    try {
      const again = readOwner(file);
      if (again !== undefined && again !== 'unreadable' && again.token === current.token) rmSync(file, { force: true });
    } finally {
      rmSync(mutex, { force: true });
    }
  }
  return err(
    'ERR_DATA_DIR_LOCKED',
    `data directory ${dir}: could not take ${file} (other processes keep racing for it)`,
    {
      file,
    },
  );
}
