import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { renderErrorsDoc } from '../../scripts/gen-docs.js';
import { ERROR_CODES, TesseraError, isErrorCode, toTesseraError } from './errors.js';
import { httpError } from './http.js';

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
    const mapped = httpError(cause);
    assert.equal(mapped.status, 500);
    assert.equal(mapped.internal, true);
    assert.doesNotMatch(JSON.stringify(mapped.body), /postgres/);
  });

  it('maps body-parser failures to their own codes', () => {
    assert.equal(httpError({ type: 'entity.too.large', limit: 10 }).body.error.code, 'ERR_BODY_TOO_LARGE');
    assert.equal(httpError({ type: 'entity.parse.failed' }).body.error.code, 'ERR_JSON_MALFORMED');
    assert.equal(httpError(new TesseraError('ERR_FORBIDDEN', 'no')).status, 403);
    assert.ok(isErrorCode('ERR_VC_REVOKED'));
    assert.ok(!isErrorCode('ERR_NOPE'));
  });
});
