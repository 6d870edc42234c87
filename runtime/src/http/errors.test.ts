import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TesseraError } from '@tessera/protocol';
import { httpError } from './errors.js';

describe('httpError', () => {
  it('maps an unknown throw to ERR_INTERNAL without leaking its message', () => {
    const mapped = httpError(new Error('secret connection string postgres://u:p@h'));
    assert.equal(mapped.status, 500);
    assert.equal(mapped.internal, true);
    assert.doesNotMatch(JSON.stringify(mapped.body), /postgres/);
  });

  it('maps body-parser failures to their own codes', () => {
    assert.equal(httpError({ type: 'entity.too.large', limit: 10 }).body.error.code, 'ERR_BODY_TOO_LARGE');
    assert.equal(httpError({ type: 'entity.parse.failed' }).body.error.code, 'ERR_JSON_MALFORMED');
    assert.equal(httpError(new TesseraError('ERR_FORBIDDEN', 'no')).status, 403);
  });
});
