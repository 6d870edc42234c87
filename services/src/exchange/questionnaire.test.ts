import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QuestionnaireSchema, SUPPLIER_QUESTIONNAIRE, validateAnswers } from './questionnaire.js';

const good = {
  legalName: 'Solar Parts SARL',
  vatId: 'FR12345678901',
  employees: 42,
  iso14001: false,
  country: 'FR',
};
const paths = (r: ReturnType<typeof validateAnswers>) =>
  r.ok ? [] : (r.error.details as { path: string }[]).map((d) => d.path).sort();

describe('questionnaires (JSON Schema subset)', () => {
  it('accepts answers of the right types within their constraints, optional questions left out', () => {
    assert.deepEqual(validateAnswers(SUPPLIER_QUESTIONNAIRE, good), { ok: true, value: good });
  });

  it('reports every problem at once: missing, unknown, wrong type, out of range, pattern, enum', () => {
    const r = validateAnswers(SUPPLIER_QUESTIONNAIRE, {
      vatId: 'fr123',
      employees: -1,
      iso14001: 'yes',
      renewableShare: 101,
      country: 'US',
      shoeSize: 44,
    });
    assert.equal(r.ok ? 'ok' : r.error.code, 'ERR_EXCHANGE_ANSWER_INVALID');
    assert.deepEqual(paths(r), [
      'country',
      'employees',
      'iso14001',
      'legalName',
      'renewableShare',
      'shoeSize',
      'vatId',
    ]);
    assert.deepEqual(paths(validateAnswers(SUPPLIER_QUESTIONNAIRE, { ...good, employees: 4.5 })), ['employees']);
    assert.deepEqual(paths(validateAnswers(SUPPLIER_QUESTIONNAIRE, [good])), ['(root)']);
  });

  it('checks dates and maximum lengths', () => {
    const q = QuestionnaireSchema.parse({
      title: 'Audit',
      type: 'object',
      properties: {
        auditedOn: { type: 'string', title: 'Audit date', format: 'date' },
        note: { type: 'string', title: 'Note', maxLength: 5 },
      },
    });
    assert.ok(validateAnswers(q, { auditedOn: '2026-02-28', note: 'fine' }).ok);
    assert.deepEqual(paths(validateAnswers(q, { auditedOn: '2026-13-45', note: 'too long' })), ['auditedOn', 'note']);
  });

  it('refuses questionnaires outside the subset', () => {
    const bad = (properties: unknown, extra: Record<string, unknown> = {}) =>
      QuestionnaireSchema.safeParse({ title: 'x', type: 'object', properties, ...extra }).success;
    assert.equal(bad({ a: { type: 'array', title: 'A' } }), false);
    assert.equal(bad({ 'a b': { type: 'string', title: 'A' } }), false);
    assert.equal(bad({ a: { type: 'string', title: 'A', pattern: '(' } }), false);
    assert.equal(bad({}), false);
    assert.equal(bad({ a: { type: 'string', title: 'A' } }, { required: ['b'] }), false);
    assert.equal(bad({ a: { type: 'string', title: 'A' } }, { additionalProperties: true }), false);
    assert.equal(bad({ a: { type: 'string', title: 'A' } }, { required: ['a'] }), true);
  });
});
