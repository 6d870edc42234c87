/**
 * The one way a Tessera command line behaves (`@tessera/runtime/cli`): every CLI builds its commands with
 * `cliProgram` (commander) and runs them with `runCli`, so that `--help`, usage errors, failures and exit codes are the
 * same everywhere:
 *
 * - `--help` (or `-h`) on any command prints its usage, its exit codes and the environment it reads, and exits 0;
 * - a usage error (unknown command or flag, a missing or malformed argument) prints `error ERR_USAGE: …` and a hint
 *   on stderr and exits 2;
 * - a failure prints `error <CODE>: <message>` on one line on stderr (the code from docs/errors.md) and exits 1, or
 *   with the exit code the CLI documents for it; never a stack trace;
 * - output meant for a pipe goes to stdout, everything a person reads while it works goes to stderr.
 *
 * This module loads nothing but commander, so `--help` and usage errors answer before any heavy module is read: commands
 * import what they need inside their action (`await import('./flows.js')`).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { ErrorCode } from '@tessera/protocol';

export { Command, InvalidArgumentError, Option };

/** A flag value parser for whole numbers from `min` to `max` (a usage error otherwise). */
export function integerArg(min: number, max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** A flag value parser for http(s), mqtt(s) or ws(s) URLs. */
export function urlArg(value: string): string {
  try {
    const u = new URL(value);
    if (/^(https?|mqtts?|wss?):$/.test(u.protocol)) return value;
  } catch {}
  throw new InvalidArgumentError('must be a URL (http, https, mqtt, mqtts, ws or wss)');
}

/** One documented exit code of a CLI. */
export interface ExitCode {
  code: number;
  meaning: string;
}

/** The command finished. */
export const EXIT_OK = 0;
/** The command failed; stderr has `error <CODE>: <message>`. */
export const EXIT_FAILED = 1;
/** The command line is wrong; stderr has `error ERR_USAGE: <message>`. */
export const EXIT_USAGE = 2;

/** The exit codes every Tessera CLI shares; a CLI adds its own from 3 up (or says more about one of these). */
export const COMMON_EXIT_CODES: readonly ExitCode[] = Object.freeze([
  { code: EXIT_OK, meaning: 'done' },
  { code: EXIT_FAILED, meaning: 'failed: stderr says `error <CODE>: <message>` (codes in docs/errors.md)' },
  { code: EXIT_USAGE, meaning: 'usage error: unknown command or flag, missing or malformed argument' },
]);

/**
 * A failure that ends the command with a given exit code and one `error CODE: message` line. Throw it from an action
 * (or return it through `fail`); `runCli` prints it and exits.
 */
export class CliFailure extends Error {
  constructor(
    readonly code: ErrorCode | 'ERR_USAGE',
    message: string,
    readonly exitCode: number = code === 'ERR_USAGE' ? EXIT_USAGE : EXIT_FAILED,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** A usage error found by the command itself (a flag that needs another, a value out of range): exit 2. */
export const usageError = (message: string): CliFailure => new CliFailure('ERR_USAGE', message, EXIT_USAGE);

/** End the command with `error CODE: message` and exit 1 (or `exitCode`). */
export function fail(code: ErrorCode, message: string, exitCode: number = EXIT_FAILED): never {
  throw new CliFailure(code, message, exitCode);
}

export interface CliProgramOptions {
  /** How a person types it, for example `npm run wallet --`. */
  name: string;
  /** One paragraph: what the CLI is for. */
  description: string;
  /** Exit codes beyond the common ones (3 and up). */
  exitCodes?: readonly ExitCode[];
  /** Environment variables the CLI reads, with their meaning. */
  environment?: readonly [name: string, meaning: string][];
  /** Lines shown after the exit codes (examples). */
  examples?: readonly string[];
}

const INDENT = '  ';

/** The `Exit codes:` and `Environment:` sections of a help page, as plain text. */
export function helpFooter(o: Pick<CliProgramOptions, 'exitCodes' | 'environment' | 'examples'>): string {
  // a CLI's own meaning of a code replaces the common one (for `npm start`, 0 is "stopped by a signal")
  const byCode = new Map([...COMMON_EXIT_CODES, ...(o.exitCodes ?? [])].map((c) => [c.code, c]));
  const codes = [...byCode.values()].sort((a, b) => a.code - b.code);
  const width = Math.max(...codes.map((c) => String(c.code).length));
  const lines = ['', 'Exit codes:', ...codes.map((c) => `${INDENT}${String(c.code).padStart(width)}  ${c.meaning}`)];
  if (o.environment?.length) {
    const w = Math.max(...o.environment.map(([n]) => n.length));
    lines.push('', 'Environment:', ...o.environment.map(([n, m]) => `${INDENT}${n.padEnd(w)}  ${m}`));
  }
  if (o.examples?.length) lines.push('', 'Examples:', ...o.examples.map((e) => `${INDENT}${e}`));
  return lines.join('\n');
}

/** Every exit code a program documents (the common ones with the program's own meanings), by code. */
export function programExitCodes(program: Command): ExitCode[] {
  const own = (program as WithOptions)[OPTIONS]?.exitCodes ?? [];
  const byCode = new Map([...COMMON_EXIT_CODES, ...own].map((c) => [c.code, c]));
  return [...byCode.values()].sort((a, b) => a.code - b.code);
}

/** What a command's output calls this program and its subcommands: `npm run wallet -- present`. */
function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * A commander program with Tessera's conventions: `-h, --help` on every command, usage errors as `error ERR_USAGE`,
 * no excess arguments, and the exit-code table on every help page. Add commands with `.command()` (they inherit the
 * settings); call `finishProgram` once every command is added.
 */
export function cliProgram(o: CliProgramOptions): Command {
  const program = new Command(o.name);
  program
    .description(o.description)
    .helpOption('-h, --help', 'show this help')
    .helpCommand(false)
    .allowExcessArguments(false)
    .showSuggestionAfterError(true)
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      writeOut: (s) => process.stdout.write(s),
      outputError: (s, write) => write(`error ERR_USAGE: ${s.replace(/^error: /, '')}`),
    })
    .exitOverride();
  (program as WithOptions)[OPTIONS] = o;
  return program;
}

const OPTIONS = Symbol('tessera.cli.options');
type WithOptions = Command & { [OPTIONS]?: CliProgramOptions };

/**
 * Add the help footer (exit codes, environment) and the `--help` hint to every command of the program; call it once
 * every command is added. A subcommand with exit codes of its own lists them in `own`, keyed by its full name
 * (`npm run device -- run`); the program's own list (in `cliProgram`) should name them all.
 */
export function finishProgram(program: Command, own: Record<string, readonly ExitCode[]> = {}): Command {
  const o = (program as WithOptions)[OPTIONS] ?? { name: program.name(), description: '' };
  const visit = (cmd: Command) => {
    const footer =
      cmd === program
        ? helpFooter(o)
        : helpFooter({ exitCodes: own[fullName(cmd)] ?? [], ...(o.environment ? { environment: o.environment } : {}) });
    cmd.addHelpText('after', footer);
    cmd.showHelpAfterError(`(${fullName(cmd)} --help shows the usage)`);
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
  return program;
}

function classify(e: unknown): { code: string; message: string; exitCode: number } | undefined {
  if (e instanceof CommanderError) {
    // --help asked for: a normal end. Help shown because no command was named: a usage error.
    if (e.exitCode === 0) return undefined;
    if (e.code === 'commander.help')
      return { code: 'ERR_USAGE', message: 'name a command (listed above)', exitCode: EXIT_USAGE };
    return { code: 'ERR_USAGE', message: '', exitCode: EXIT_USAGE }; // commander has printed it
  }
  if (e instanceof CliFailure) return { code: e.code, message: e.message, exitCode: e.exitCode };
  const coded = e as { name?: unknown; code?: unknown; message?: unknown } | undefined;
  if (coded && coded.name === 'TesseraError' && typeof coded.code === 'string')
    return { code: coded.code, message: String(coded.message), exitCode: EXIT_FAILED };
  // fetch() to a service that is not there: say where, and what usually fixes it
  const cause = (e as { cause?: { code?: unknown; address?: unknown; port?: unknown; message?: unknown } } | undefined)
    ?.cause;
  if (e instanceof TypeError && e.message === 'fetch failed' && cause) {
    const where = cause.address ? ` ${cause.address}${cause.port ? `:${cause.port}` : ''}` : '';
    const why = typeof cause.code === 'string' ? cause.code : String(cause.message);
    return {
      code: 'ERR_UNAVAILABLE',
      message: `cannot reach the service${where} (${why}); is the stack running (npm start), and is the URL right?`,
      exitCode: EXIT_FAILED,
    };
  }
  const message = e instanceof Error ? e.message : String(e);
  // Node's system errors (ENOENT, EACCES, ECONNREFUSED…) say what and where in their message.
  const sys = typeof coded?.code === 'string' && /^E[A-Z]+$/.test(coded.code) ? `${coded.code}: ` : '';
  return {
    code: coded?.code === 'ENOENT' ? 'ERR_NOT_FOUND' : 'ERR_INTERNAL',
    message: message.startsWith(sys) ? message : sys + message,
    exitCode: EXIT_FAILED,
  };
}

/** Print a failure the Tessera way (`error CODE: message`) and give its exit code. */
export function reportFailure(e: unknown): number {
  const d = classify(e);
  if (!d) return EXIT_OK;
  if (d.message) process.stderr.write(`error ${d.code}: ${d.message.split('\n')[0]}\n`);
  return d.exitCode;
}

/**
 * Parse `argv` and run the chosen action. Help ends with 0, usage errors with 2, failures with their exit code after
 * one `error CODE: message` line. A command that returns normally leaves the process to end by itself (a command that
 * keeps running, such as `device run`, keeps its handles open); an action may set `process.exitCode`.
 */
export async function runCli(program: Command, argv: readonly string[] = process.argv): Promise<void> {
  // A reader that went away (`| head`) ends the command quietly, as it does for other Unix tools.
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  // A fault after the action returned (a long-running command's background work) ends it the same way: one line.
  const crash = (e: unknown) => process.exit(reportFailure(e) || EXIT_FAILED);
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    const code = reportFailure(e);
    // Flush stdout and stderr before leaving: a pipe may still hold the output.
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(code);
  }
}

/**
 * True when the module at `moduleUrl` is the script node was started with (`node --import tsx wallet/src/cli.ts`), so
 * that a CLI module can also be imported (by the docs generator, by tests, by the bundled entry) without running.
 */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && moduleUrl === pathToFileURL(resolve(script)).href;
}
