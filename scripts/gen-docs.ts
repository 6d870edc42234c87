/**
 * Regenerates docs/errors.md from the one error registry (protocol/src/errors.ts) and docs/cli.md from the
 * command-line programs; tests keep them in sync.
 */
import { writeFileSync } from 'node:fs';
import { ERROR_CODES } from '@tessera/protocol';
import { renderCliDoc } from './gen-cli-docs.js';

export function renderErrorsDoc(): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, { status, summary }]) => `| \`${code}\` | ${status} | ${summary} |`,
  );
  return [
    '# Error codes',
    '',
    'Every error Tessera returns carries one of these stable codes (HTTP bodies: `{"error": {"code", "message"}}`;',
    'CLI and startup: `error CODE: message` on one line). A code, once published, keeps its meaning. Generated from',
    '`protocol/src/errors.ts` by `npm run docs`; `protocol/src/errors.test.ts` fails when this file is stale.',
    '',
    '| code | HTTP status | meaning |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
  writeFileSync(new URL('../docs/cli.md', import.meta.url), await renderCliDoc());
  console.log('wrote docs/errors.md and docs/cli.md');
}
