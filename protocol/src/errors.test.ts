import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERROR_CODES, TesseraError, isErrorCode, toTesseraError } from './errors.js';

describe('error registry', () => {
  it('keeps every published code with its status, and every code is published (protocol/errors.published.txt)', () => {
    const published = readFileSync(new URL('../errors.published.txt', import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(' ') as [string, string]);
    for (const [code, status] of published) {
      assert.ok(isErrorCode(code), `${code} was published and must stay (codes are never renamed or removed)`);
      assert.equal(String(ERROR_CODES[code].status), status, `${code} keeps its published status`);
    }
    const listed = new Set(published.map(([code]) => code));
    for (const code of Object.keys(ERROR_CODES)) {
      assert.ok(listed.has(code), `${code} is new: add "${code} <status>" to protocol/errors.published.txt`);
    }
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
