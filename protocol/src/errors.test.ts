import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { renderErrorsDoc } from '../../scripts/gen-docs.js';
import { ERROR_CODES, TesseraError, isErrorCode, toTesseraError } from './errors.js';

describe('error registry', () => {
  it('every code is documented in docs/errors.md (run npm run docs when this fails)', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    assert.equal(doc, renderErrorsDoc());
  });

  it('codes are ERR_ upper snake case with a 4xx/5xx status and a summary', () => {
    for (const [code, { status, summary }] of Object.entries(ERROR_CODES)) {
      assert.match(code, /^ERR_[A-Z0-9_]+$/);
      assert.ok(status >= 400 && status < 600, code);
      assert.ok(summary.length > 10, code);
    }
  });

  it('normalises unknown throws to ERR_INTERNAL without leaking their message, keeping the cause', () => {
    const cause = new Error('secret connection string postgres://u:p@h');
    const e = toTesseraError(cause);
    assert.equal(e.code, 'ERR_INTERNAL');
    assert.doesNotMatch(e.message, /postgres/);
    assert.equal(e.cause, cause);
  });

  it('knows its codes', () => {
    assert.equal(new TesseraError('ERR_FORBIDDEN', 'no').status, 403);
    assert.ok(isErrorCode('ERR_VC_REVOKED'));
    assert.ok(!isErrorCode('ERR_NOPE'));
  });
});
