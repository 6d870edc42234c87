/**
 * Regenerates the reference docs from the code they describe, so they cannot drift: docs/errors.md from the one error
 * registry (protocol/src/errors.ts), docs/configuration.md from the stack's configuration schema (stack/src/config.ts)
 * and docs/cli.md from the command-line programs. `npm run docs` writes them; scripts/gen-docs.test.ts and
 * scripts/cli.test.ts fail when one is stale.
 */
import { writeFileSync } from 'node:fs';
import { ERROR_CODES } from '@tessera/protocol';
import { StackConfigSchema } from '@tessera/stack';
import { z } from 'zod';
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

interface OptionDoc {
  default?: unknown;
  description?: string;
  kind?: string;
  defaultText?: string;
}

export function renderConfigurationDoc(): string {
  const schema = z.toJSONSchema(StackConfigSchema, { io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, OptionDoc>;
  };
  const rows = Object.entries(schema.properties).map(([name, o]) => {
    const dflt =
      o.default !== undefined
        ? `\`${String(o.default)}\``
        : o.defaultText
          ? o.defaultText.replace(/\|/g, '\\|')
          : 'unset';
    return `| \`${name}\` | ${o.kind ?? ''} | ${dflt} | ${(o.description ?? '').replace(/\|/g, '\\|')} |`;
  });
  return [
    '# Configuration',
    '',
    'The stack reads its configuration once, at start, from environment variables. Every problem is reported at once,',
    'each naming its variable, with `ERR_CONFIG_INVALID`. Secrets have no defaults and are never printed. Generated',
    'from the schema in `stack/src/config.ts` (the only place defaults live) by `npm run docs`;',
    '`scripts/gen-docs.test.ts` fails when this file is stale.',
    '',
    '| variable | type | default | what it is for |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
  writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigurationDoc());
  writeFileSync(new URL('../docs/cli.md', import.meta.url), await renderCliDoc());
  console.log('wrote docs/errors.md, docs/configuration.md and docs/cli.md');
}
