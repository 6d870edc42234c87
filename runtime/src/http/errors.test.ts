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

  it('names a database that refuses connections or writes with its documented code, not ERR_INTERNAL', () => {
    const refused = Object.assign(new AggregateError([], 'connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    assert.deepEqual([httpError(refused).status, httpError(refused).body.error.code], [503, 'ERR_UNAVAILABLE']);
    const wrapped = { message: 'query failed', driverError: { code: '57P01', message: 'terminating connection' } };
    assert.equal(httpError(wrapped).body.error.code, 'ERR_UNAVAILABLE');
    const full = { message: 'database or disk is full', driverError: { code: 'SQLITE_FULL' } };
    assert.deepEqual([httpError(full).status, httpError(full).body.error.code], [503, 'ERR_STORAGE_UNAVAILABLE']);
    assert.equal(httpError({ driverError: { code: 'SQLITE_CONSTRAINT_UNIQUE' } }).body.error.code, 'ERR_INTERNAL');
  });
});
