/**
 * The documentation test's reading of a Markdown file: the marked shell blocks, the commands in them, and what the
 * comment beside each command promises. Pure (bash is only asked whether a piece of text is a complete command).
 * The conventions are described in docs/doc-test.md.
 */
import { spawnSync } from 'node:child_process';

/** The HTML comment that marks the next fenced shell block as part of the documentation test. */
export const MARKER = '<!-- doc-test -->';
/** The HTML comment that marks the block saying how to start the stack for the document (`VAR=value … npm start`). */
export const START_MARKER = '<!-- doc-test start -->';

export interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  text: string;
}

export interface Expectation {
  /** `error ERR_X` in the comment: the command fails (exit code not 0) and its output names this code. */
  error?: string;
  /** Backticked samples after `prints` in the comment: each appears in the output (`…` stands for any text). */
  prints: string[];
}

export interface Command {
  /** 1-based line in the Markdown file of the command's first line. */
  line: number;
  text: string;
  comment: string;
  expect: Expectation;
}

/**
 * The environment the document starts the stack with: the assignments before `npm start` in the block after
 * START_MARKER (none without one). The test starts the stack the same way.
 */
export function startEnv(markdown: string): Record<string, string> {
  const blocks = markedBlocks(markdown, START_MARKER);
  if (blocks.length === 0) return {};
  if (blocks.length > 1) throw new Error(`more than one ${START_MARKER} block`);
  const line = splitComment(blocks[0]!.text).code.trim();
  const m = /^((?:[A-Z_][A-Z0-9_]*=[^\s'"$`]*\s+)*)npm start$/.exec(line);
  if (!m) throw new Error(`line ${blocks[0]!.line}: a ${START_MARKER} block is one line: VAR=value … npm start`);
  return Object.fromEntries(
    m[1]!
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
  );
}

/** Every fenced block whose opening fence follows the marker line (blank lines between are allowed). */
export function markedBlocks(markdown: string, marker = MARKER): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let armed = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === marker) {
      armed = true;
      continue;
    }
    const fence = /^(`{3,})\s*(\w*)/.exec(l);
    if (fence) {
      const close = fence[1]!;
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !lines[j]!.trim().startsWith(close)) body.push(lines[j++]!);
      if (armed) {
        if (!['sh', 'bash', 'shell', ''].includes(fence[2]!)) {
          throw new Error(`line ${i + 1}: a marked block must be a shell block (\`\`\`sh), not ${fence[2]}`);
        }
        blocks.push({ line: i + 1, text: body.join('\n') });
      }
      armed = false;
      i = j;
      continue;
    }
    if (l !== '') armed = false;
  }
  return blocks;
}

/**
 * The comment text of a piece of shell (quote-aware: `#` starts a comment only at the start of a word outside
 * quotes), joined across lines, and the code without comments.
 */
export function splitComment(text: string): { code: string; comment: string } {
  let code = '';
  const comments: string[] = [];
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      code += c;
      continue;
    }
    if (c === '\\' && i + 1 < text.length) {
      code += c + text[++i];
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      code += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      code += c;
      continue;
    }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      const end = text.indexOf('\n', i);
      comments.push(text.slice(i + 1, end === -1 ? undefined : end).trim());
      i = end === -1 ? text.length : end - 1;
      continue;
    }
    code += c;
  }
  return { code, comment: comments.join(' ') };
}

export function expectationOf(comment: string): Expectation {
  const error = /(?:^|[\s(:;,])error `?(ERR_[A-Z0-9_]+)`?/.exec(comment)?.[1];
  const prints: string[] = [];
  const at = comment.search(/\bprints\b/);
  if (at !== -1) {
    for (const m of comment.slice(at).matchAll(/`([^`]+)`/g)) prints.push(m[1]!);
  }
  return { ...(error ? { error } : {}), prints };
}

/** A sample as a regular expression: `…` is any text on one line, a run of spaces any run of blanks. */
export function sampleRegExp(sample: string): RegExp {
  const parts = sample
    .trim()
    .split(/(…|\s+)/)
    .map((p) => (p === '…' ? '[^\\n]*' : /^\s+$/.test(p) ? '[ \\t]+' : p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
  return new RegExp(parts.join(''));
}

/** Whether bash reads this text as complete commands (false: it wants more lines). Throws on a syntax error. */
export function isComplete(text: string): boolean {
  if (/\\\s*$/.test(text)) return false;
  const r = spawnSync('bash', ['-n'], { input: `${text}\n`, encoding: 'utf8' });
  if (r.status === 0) return true;
  if (/unexpected end of file|unexpected EOF/.test(r.stderr)) return false;
  throw new Error(r.stderr.trim());
}

/** The commands of a block, in order: a command is the smallest run of lines bash reads as complete. */
export function commandsOf(block: Block, complete: (text: string) => boolean = isComplete): Command[] {
  const lines = block.text.split('\n');
  const out: Command[] = [];
  let start = -1;
  let acc: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (acc.length === 0 && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (acc.length === 0) start = i;
    acc.push(line);
    const text = acc.join('\n');
    let done: boolean;
    try {
      done = complete(text);
    } catch (e) {
      throw new Error(`line ${block.line + 1 + start}: ${(e as Error).message}`);
    }
    if (done) {
      const { comment } = splitComment(text);
      out.push({ line: block.line + 1 + start, text, comment, expect: expectationOf(comment) });
      acc = [];
    }
  }
  if (acc.length > 0) throw new Error(`line ${block.line + 1 + start}: the block ends inside a command`);
  return out;
}

/** What is wrong with a command's outcome given its comment, or undefined when it kept its word. */
export function judge(c: Command, code: number, output: string): string | undefined {
  if (c.expect.error !== undefined) {
    if (code === 0) return `exit code 0, but the comment says it fails with ${c.expect.error}`;
    if (!output.includes(c.expect.error)) return `exit code ${code} without ${c.expect.error} in its output`;
  } else if (code !== 0) {
    return `exit code ${code}`;
  }
  for (const s of c.expect.prints) {
    if (!sampleRegExp(s).test(output)) return `its output has no \`${s}\` although the comment says it prints it`;
  }
  return undefined;
}
