import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TesseraError } from '@tessera/protocol';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '@tessera/runtime';

export interface AnvilOptions {
  /** Folder for the chain state file; omitted = in-memory chain (tests). */
  stateDir?: string;
  /** 0 = any free port (default). */
  port?: number;
  chainId?: number;
  /** Mine a block every N seconds instead of on every transaction. */
  blockTimeSeconds?: number;
  startTimeoutMs?: number;
  /**
   * Pid file for crash recovery: if the stack was killed hard, its anvil child outlives it; the next start finds
   * it here and stops it gracefully (so it writes its state) before starting a new one on the same state file.
   */
  pidFile?: string;
}

export interface AnvilChain {
  rpcUrl: string;
  wsUrl: string;
  port: number;
  chainId: number;
  pid: number;
  /** Graceful stop (SIGTERM, anvil writes its state), then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Immediate SIGKILL, for crash tests. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** Anvil's default chain id. */
export const ANVIL_CHAIN_ID = 31337;
/** Anvil's first dev account (the well-known test mnemonic). Only ever used to fund on the embedded chain. */
export const ANVIL_FUNDER_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

/** Path of the anvil binary shipped inside the platform package of `@foundry-rs/anvil` (no download). */
export function anvilBinaryPath(): string {
  const require = createRequire(import.meta.url);
  const pkg = `@foundry-rs/anvil-${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`;
  try {
    return join(dirname(require.resolve(`${pkg}/package.json`)), 'bin', 'anvil');
  } catch (cause) {
    throw new TesseraError('ERR_CHAIN_START_FAILED', `anvil binary package ${pkg} is not installed (run npm install)`, {
      cause,
    });
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Stop an anvil left running by a previous, hard-killed run (only if the pid really is an anvil). */
async function stopOrphan(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!cmdline.includes('anvil')) return;
  process.kill(pid, 'SIGTERM'); // anvil dumps its state on SIGTERM
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * Start anvil as a child process on loopback. With `stateDir`, blocks, logs and accounts persist across
 * restarts and kills (`--state FILE --state-interval 1`).
 */
export async function startAnvil(options: AnvilOptions = {}): Promise<AnvilChain> {
  const chainId = options.chainId ?? ANVIL_CHAIN_ID;
  const args = ['--host', '127.0.0.1', '--port', String(options.port ?? 0), '--chain-id', String(chainId)];
  if (options.stateDir) {
    mkdirSync(options.stateDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    args.push('--state', join(options.stateDir, 'anvil-state.json'), '--state-interval', '1');
  }
  if (options.blockTimeSeconds) args.push('--block-time', String(options.blockTimeSeconds));
  if (options.pidFile) await stopOrphan(options.pidFile);
  // anvil writes its state file with its own umask: give it a private one (inherited at spawn, restored at once).
  const umask = process.umask(0o077);
  let child: ChildProcess;
  try {
    child = spawn(anvilBinaryPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    process.umask(umask);
  }
  if (options.pidFile) {
    writeFileSync(options.pidFile, String(child.pid), { mode: PRIVATE_FILE_MODE });
    const pidFile = options.pidFile;
    child.once('exit', () => rmSync(pidFile, { force: true }));
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new TesseraError('ERR_CHAIN_START_FAILED', `anvil did not start within ${options.startTimeoutMs ?? 15000} ms`),
      );
    }, options.startTimeoutMs ?? 15_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume(); // keep draining so anvil never blocks on a full pipe
        resolve(Number(m[1]));
      }
      if (out.length > 64 * 1024) out = out.slice(-4096);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('error', (cause) => {
      clearTimeout(timer);
      reject(new TesseraError('ERR_CHAIN_START_FAILED', `anvil could not be spawned: ${cause.message}`, { cause }));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      const tail = out.trim().split('\n').slice(-3).join(' | ');
      reject(new TesseraError('ERR_CHAIN_START_FAILED', `anvil exited with code ${code} before listening: ${tail}`));
    });
  });

  const stop = async (graceMs = 5000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  return {
    rpcUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    chainId,
    pid: child.pid!,
    stop,
    kill,
    exited,
  };
}
