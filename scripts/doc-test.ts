/**
 * `npm run test:docs`: every walk-through runs as a user would run it. For each Markdown file with marked shell blocks
 * (README.md, docs/*.md, <package>/README.md; the marker and the comment conventions are in docs/doc-test.md) it makes
 * a fresh folder that looks like a clone (package.json, links to the sources, node_modules and dist), starts `npm start`
 * there on free ports with a fresh HOME, then runs the blocks' commands in order, exactly as written, in one bash
 * session (variables carry over), with TESSERA_URL naming the stack. It stops at the first command that fails or
 * contradicts its comment and prints the command, its output and the end of the stack's log.
 *
 *   npm run test:docs                 every document
 *   npm run test:docs -- energy       the documents whose path contains "energy"
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { type Command, commandsOf, judge, markedBlocks, startEnv } from './doc-test/parse.js';

const ROOT = resolve(import.meta.dirname, '..');
const COMMAND_TIMEOUT_MS = Number(process.env.DOC_TEST_COMMAND_TIMEOUT_MS ?? 180_000);
const KEEP = process.env.DOC_TEST_KEEP === '1';
const VERBOSE = process.env.DOC_TEST_VERBOSE === '1';
const JOBS = Math.max(1, Number(process.env.DOC_TEST_JOBS ?? 2) || 1);

function documents(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  const files = ['README.md'];
  for (const f of readdirSync(join(ROOT, 'docs')).sort()) if (f.endsWith('.md')) files.push(`docs/${f}`);
  for (const w of pkg.workspaces) if (existsSync(join(ROOT, w, 'README.md'))) files.push(`${w}/README.md`);
  return files.filter((f) => markedBlocks(readFileSync(join(ROOT, f), 'utf8')).length > 0);
}

/** Can something listen on this port of 127.0.0.1 now? 0 asks the system for any free port. */
function listenable(port: number): Promise<number | undefined> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(undefined));
    s.listen(port, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : undefined));
    });
  });
}

/**
 * A port for a stack to listen on. Chosen below Linux's ephemeral range (32768–60999 by default): a port the system
 * hands out for bind(0) is also one it hands out as the local end of outgoing connections, and with the documents
 * running side by side one of those can take it between this check and the stack's listen.
 */
async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await listenable(20_000 + Math.floor(Math.random() * 12_000));
    if (port !== undefined) return port;
  }
  const any = await listenable(0);
  if (any === undefined) throw new Error('no free port on 127.0.0.1');
  return any;
}

/** A folder that looks like a fresh clone to the tools: package.json copied, what they run from linked. */
function cloneLike(): { work: string; home: string } {
  const base = mkdtempSync(join(tmpdir(), 'tessera-doc-test-'));
  const work = join(base, 'tessera');
  const home = join(base, 'home');
  mkdirSync(work);
  mkdirSync(home);
  writeFileSync(join(work, 'package.json'), readFileSync(join(ROOT, 'package.json')));
  // only what the tools run from: a walk-through's files (wallets, state directories) land in the folder itself and
  // never in the repository (a `--dir issuer` must not write into the issuer package)
  for (const e of ['node_modules', 'dist', 'scripts']) symlinkSync(join(ROOT, e), join(work, e));
  return { work, home };
}

/**
 * The environment of a new terminal: none of the caller's Tessera or npm settings, a fresh HOME. One setting is
 * added: the stack checks its answers against its OpenAPI document (TESSERA_CHECK_RESPONSES, docs/http-api.md), so a
 * walk-through that meets an answer the document does not describe fails.
 */
function userEnv(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('TESSERA_') || k.startsWith('npm_') || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return {
    ...env,
    HOME: home,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    TESSERA_CHECK_RESPONSES: '1',
    ...extra,
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {}
}

async function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

interface Stack {
  child: ChildProcess;
  log: () => string;
  url: string;
}

/** Start the stack; a start that lost a race for its port (ERR_PORT_IN_USE) is made again on other ports. */
async function startStack(work: string, home: string, extra: Record<string, string>): Promise<Stack> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStackOnce(work, home, extra);
    } catch (e) {
      if (attempt >= 3 || !/ERR_PORT_IN_USE/.test((e as Error).message)) throw e;
      console.error(`doc-test: npm start lost its port (attempt ${attempt}), starting again on other ports`);
    }
  }
}

async function startStackOnce(work: string, home: string, extra: Record<string, string>): Promise<Stack> {
  const [http, mqtt] = [await freePort(), await freePort()];
  const child = spawn('npm', ['start'], {
    cwd: work,
    env: userEnv(home, {
      TESSERA_HTTP_PORT: String(http),
      TESSERA_MQTT_PORT: String(mqtt),
      TESSERA_LOG_LEVEL: 'warn',
      ...extra,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout!.on('data', (c) => (log += c));
  child.stderr!.on('data', (c) => (log += c));
  const deadline = Date.now() + 120_000;
  while (!/ ready in /.test(log)) {
    if (child.exitCode !== null) {
      killGroup(child, 'SIGKILL'); // whatever it started and left behind (an embedded chain)
      throw new Error(`npm start exited with ${child.exitCode}:\n${log}`);
    }
    if (Date.now() > deadline) throw new Error(`npm start printed no ready line in 120 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, log: () => log, url: `http://127.0.0.1:${http}` };
}

async function stopStack(s: Stack, work: string) {
  killGroup(s.child, 'SIGINT');
  if (!(await exited(s.child, 20_000))) killGroup(s.child, 'SIGKILL');
  const pidFile = join(work, '.tessera', 'chain', 'anvil.pid');
  if (existsSync(pidFile)) {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    } catch {}
  }
}

/** One bash session fed one command at a time; each command's status comes back on fd 3. */
class Session {
  private readonly bash: ChildProcess;
  private statusBuf = '';
  private waiting: ((line: string) => void) | undefined;
  private n = 0;
  constructor(
    work: string,
    env: NodeJS.ProcessEnv,
    private readonly outDir: string,
  ) {
    this.bash = spawn('bash', ['--noprofile', '--norc', '-s'], {
      cwd: work,
      env,
      stdio: ['pipe', 'inherit', 'inherit', 'pipe'],
      detached: true,
    });
    const status = this.bash.stdio[3] as NodeJS.ReadableStream;
    status.setEncoding('utf8');
    status.on('data', (c: string) => {
      this.statusBuf += c;
      const nl = this.statusBuf.indexOf('\n');
      if (nl !== -1 && this.waiting) {
        const line = this.statusBuf.slice(0, nl);
        this.statusBuf = this.statusBuf.slice(nl + 1);
        const w = this.waiting;
        this.waiting = undefined;
        w(line);
      }
    });
    this.bash.stdin!.write('set -o pipefail\n');
  }

  /** Run one command; its exit code and output (stdout then stderr), or undefined on the timeout. */
  async run(c: Command): Promise<{ code: number; output: string } | undefined> {
    const i = ++this.n;
    const out = join(this.outDir, `${i}.out`);
    const err = join(this.outDir, `${i}.err`);
    const done = new Promise<string>((res) => (this.waiting = res));
    this.bash.stdin!.write(`{\n${c.text}\n} </dev/null >'${out}' 2>'${err}'\necho "$?" >&3\n`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), COMMAND_TIMEOUT_MS)));
    const line = await Promise.race([done, timeout]);
    clearTimeout(timer);
    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    if (line === undefined) return undefined;
    return { code: Number(line.trim()), output: read(out) + read(err) };
  }

  async close() {
    this.bash.stdin!.end();
    if (!(await exited(this.bash, 5_000))) killGroup(this.bash, 'SIGTERM');
    // background jobs a walk-through started (a device agent) share the session's process group
    killGroup(this.bash, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    killGroup(this.bash, 'SIGKILL');
  }
}

const tail = (s: string, n = 40) => s.trimEnd().split('\n').slice(-n).join('\n');
const indent = (s: string) =>
  s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

async function runDocument(doc: string): Promise<{ blocks: number; commands: number; failure?: string }> {
  const markdown = readFileSync(join(ROOT, doc), 'utf8');
  const blocks = markedBlocks(markdown);
  const env = startEnv(markdown);
  const commands = blocks.map((b) => commandsOf(b));
  const { work, home } = cloneLike();
  const outDir = join(work, '..', 'out');
  mkdirSync(outDir);
  const started = Date.now();
  let stack: Stack | undefined;
  let session: Session | undefined;
  let ran = 0;
  try {
    stack = await startStack(work, home, env);
    session = new Session(work, userEnv(home, { TESSERA_URL: stack.url }), outDir);
    for (const [b, cs] of commands.entries()) {
      for (const c of cs) {
        const t = Date.now();
        const r = await session.run(c);
        ran++;
        if (VERBOSE) {
          console.log(
            `    ${doc}:${c.line} ${((Date.now() - t) / 1000).toFixed(1)} s  ${c.text.split('\n')[0]!.slice(0, 90)}`,
          );
          if (r?.output.trim()) console.log(indent(indent(tail(r.output, 20))));
        }
        const why =
          r === undefined ? `no exit after ${COMMAND_TIMEOUT_MS / 1000} s` : judge(c, r.code, r.output.trim());
        if (why !== undefined) {
          return {
            blocks: b + 1,
            commands: ran,
            failure: [
              `${doc}:${c.line}: ${why}`,
              indent(c.text),
              '  its output:',
              indent(tail(r?.output ?? '')),
              '  the stack (end of its log):',
              indent(tail(stack.log(), 15)),
            ].join('\n'),
          };
        }
      }
    }
    return { blocks: blocks.length, commands: ran };
  } catch (e) {
    // the stack did not start, or the session broke: the document fails with the reason, the others still run
    return { blocks: 0, commands: ran, failure: `${doc}: ${(e as Error).message}` };
  } finally {
    await session?.close();
    if (stack) await stopStack(stack, work);
    console.log(`  ${doc}: ${ran} commands in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (KEEP) console.log(`  kept ${resolve(work, '..')}`);
    else rmSync(resolve(work, '..'), { recursive: true, force: true, maxRetries: 5 });
  }
}

const filters = process.argv.slice(2);
const docs = documents().filter((d) => filters.length === 0 || filters.some((f) => d.includes(f)));
if (docs.length === 0) {
  console.error('error ERR_USAGE: no document with marked blocks matches');
  process.exit(2);
}
const t0 = Date.now();
let blocks = 0;
let commands = 0;
const failures: string[] = [];
// documents run side by side (each with its own folder, stack and ports): most of a walk-through's time is waiting
const queue = [...docs];
await Promise.all(
  Array.from({ length: Math.min(JOBS, docs.length) }, async () => {
    for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
      const r = await runDocument(d);
      blocks += r.blocks;
      commands += r.commands;
      if (r.failure) {
        failures.push(r.failure);
        console.error(r.failure);
      }
    }
  }),
);
const s = ((Date.now() - t0) / 1000).toFixed(0);
console.log(
  `test:docs: ${docs.length} documents, ${blocks} blocks, ${commands} commands in ${s} s: ${
    failures.length === 0 ? 'all passed' : `${failures.length} failed`
  }`,
);
console.log(`  ${docs.map((d) => relative('.', join(ROOT, d))).join(', ')}\n`);
process.exit(failures.length === 0 ? 0 : 1);
