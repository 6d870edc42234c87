/**
 * Start `npm start`'s main in a child process on a fresh data directory, as a person would, and clean up after the
 * test file (children killed, anvils orphaned by SIGKILL stopped through their pid file, directories removed).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { AnvilChain } from '@tessera/contracts';

const MAIN = join(import.meta.dirname, '..', 'main.ts');

export interface Started {
  child: ChildProcess;
  http: string;
  chain: string;
  mqtt: string;
  out: () => string;
  err: () => string;
}

/** Register the file's cleanup and return the helpers. */
export function stackProcesses() {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const chains: AnvilChain[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const c of chains) await c.stop();
    // an anvil orphaned by a SIGKILL test is stopped through its pid file
    for (const d of dirs) {
      const pidFile = join(d, 'chain', 'anvil.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8'));
        try {
          process.kill(pid, 'SIGKILL');
          while (process.kill(pid, 0)) await new Promise((r) => setTimeout(r, 20));
        } catch {}
      }
      rmSync(d, { recursive: true, force: true, maxRetries: 5 });
    }
  });
  function run(env: Record<string, string>): {
    child: ChildProcess;
    out: () => string;
    err: () => string;
    exit: Promise<number | null>;
  } {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, TESSERA_LOG_LEVEL: 'warn', TESSERA_MQTT_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (err += c));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, out: () => out, err: () => err, exit };
  }

  async function start(dataDir: string, env: Record<string, string> = {}): Promise<Started> {
    const p = run({ TESSERA_DATA_DIR: dataDir, TESSERA_HTTP_PORT: '0', ...env });
    const deadline = Date.now() + 60_000;
    while (!/ready/.test(p.out())) {
      if (p.child.exitCode !== null) throw new Error(`stack exited: ${p.err()}`);
      if (Date.now() > deadline) throw new Error(`no ready line: ${p.out()} ${p.err()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const line = p
      .out()
      .split('\n')
      .find((l) => l.includes('ready'))!;
    return {
      child: p.child,
      http: /http (http:\/\/\S+)/.exec(line)![1]!,
      chain: /chain (http:\/\/\S+)/.exec(line)![1]!,
      mqtt: /mqtt (mqtt:\/\/\S+)/.exec(line)![1]!,
      out: p.out,
      err: p.err,
    };
  }

  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'tessera-stack-'));
    dirs.push(d);
    return d;
  };

  async function health(http: string) {
    const res = await fetch(`${http}/healthz`);
    return {
      status: res.status,
      body: (await res.json()) as { ok: boolean; parts: Record<string, Record<string, unknown>> },
    };
  }
  return { run, start, tmp, health, chains };
}
