/**
 * Renders docs/cli.md from the command-line programs themselves (their --help pages and exit codes), so the page
 * cannot drift from the tools; `npm run docs` writes it and scripts/cli-docs.test.ts fails when it is stale.
 */
import type { Command } from '@tessera/runtime/cli';
import { COMMON_EXIT_CODES, programExitCodes } from '@tessera/runtime/cli';

interface CliEntry {
  module: string;
  program: string;
}

/** The tools as scripts/build-cli.mjs lists them (the one list), with the npm command that runs each. */
async function tools(): Promise<{ name: string; npm: string; program: Command }[]> {
  const build = './build-cli.mjs';
  const { CLIS } = (await import(build)) as { CLIS: Record<string, CliEntry> };
  const out = [];
  for (const [name, cli] of Object.entries(CLIS)) {
    const mod = (await import(`../${cli.module}`)) as Record<string, () => Command>;
    const npm = name === 'start' ? 'npm start' : `npm run ${name === 'sim-energy' ? 'sim:energy' : name}`;
    out.push({ name, npm, program: mod[cli.program]!() });
  }
  return out;
}

/** A command's full help page as a person sees it, at a fixed width. */
function helpPage(cmd: Command): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s), getOutHelpWidth: () => 100 });
  cmd.outputHelp();
  return text.trimEnd();
}

function commands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap((c) => commands(c))];
}

export async function renderCliDoc(): Promise<string> {
  const all = await tools();
  const common = new Map(COMMON_EXIT_CODES.map((c) => [c.code, c.meaning]));
  const lines = [
    '# Command-line tools',
    '',
    'Every tool behaves the same way: `--help` (or `-h`) on any command prints its usage, its exit codes and the',
    'environment it reads; a usage error prints `error ERR_USAGE: …` and a hint and exits 2; a failure prints one line',
    '`error <CODE>: <message>` on stderr (the codes are in [errors.md](errors.md)) and exits 1 or with the code the tool',
    'lists for it; results go to stdout, progress and messages to stderr. The tools run from a build in `dist/cli`',
    '(made by `npm install`; `npm run build:cli` remakes it, and a tool whose sources changed since is rebuilt before it',
    'runs). Generated from the programs by `npm run docs`.',
    '',
    '## Exit codes',
    '',
    'Every tool:',
    '',
    '| code | meaning |',
    '|---|---|',
    ...COMMON_EXIT_CODES.map((c) => `| ${c.code} | ${c.meaning.replaceAll('|', '\\|')} |`),
    '',
    'And each its own:',
    '',
    '| tool | code | meaning |',
    '|---|---|---|',
    ...all.flatMap((t) =>
      programExitCodes(t.program)
        .filter((c) => common.get(c.code) !== c.meaning)
        .map((c) => `| \`${t.npm}\` | ${c.code} | ${c.meaning.replaceAll('|', '\\|')} |`),
    ),
    '',
  ];
  for (const t of all) {
    lines.push(`## \`${t.npm}\``, '');
    for (const cmd of commands(t.program)) {
      lines.push('```', helpPage(cmd), '```', '');
    }
  }
  return lines.join('\n');
}
