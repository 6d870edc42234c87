import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { renderConfigurationDoc, renderErrorsDoc } from './gen-docs.js';

describe('generated reference docs', () => {
  it('docs/errors.md is the error registry (run npm run docs when this fails)', () => {
    assert.equal(readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8'), renderErrorsDoc());
  });
  it('docs/configuration.md is the stack configuration schema (run npm run docs when this fails)', () => {
    const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
    assert.equal(doc, renderConfigurationDoc());
    assert.match(doc, /\| `TESSERA_HTTP_PORT` \| port \| `8080` \|/, 'defaults come from the schema');
  });
});
