import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { composeWhiteflag, type WhiteflagBody, type WhiteflagMessage } from './codec.js';
import { WHITEFLAG_EXAMPLES } from './examples.js';
import { checkReference, notation } from './references.js';
import { validateWhiteflag } from './validate.js';

const withBody = (code: keyof typeof WHITEFLAG_EXAMPLES, patch: WhiteflagBody): WhiteflagMessage => {
  const m = WHITEFLAG_EXAMPLES[code];
  return { MessageHeader: { ...m.MessageHeader }, MessageBody: { ...m.MessageBody, ...patch } };
};
const withHeader = (m: WhiteflagMessage, patch: Partial<WhiteflagMessage['MessageHeader']>): WhiteflagMessage => ({
  MessageHeader: { ...m.MessageHeader, ...patch },
  MessageBody: m.MessageBody,
});

/** The fields a refusal names, for the assertion. */
function refused(m: WhiteflagMessage): string[] {
  const r = validateWhiteflag(m);
  assert.equal(r.ok, false, 'the message must be refused');
  if (r.ok) return [];
  assert.equal(r.error.code, 'ERR_WHITEFLAG_FIELD_INVALID');
  return (r.error.details as { field: string }[]).map((d) => d.field);
}

describe('Whiteflag validation: what the standard rejects', () => {
  const cases: [string, WhiteflagMessage, string][] = [
    ['a date that does not exist (29 Feb 2026)', withBody('D', { DateTime: '2026-02-29T00:00:00Z' }), 'DateTime'],
    ['month 13', withBody('D', { DateTime: '2026-13-01T00:00:00Z' }), 'DateTime'],
    ['hour 24', withBody('D', { DateTime: '2026-12-01T24:00:00Z' }), 'DateTime'],
    ['a duration of 24 hours (§4.3.1.4: 00 to 23)', withBody('I', { Duration: 'P00D24H00M' }), 'Duration'],
    ['a duration of 60 minutes', withBody('I', { Duration: 'P00D00H60M' }), 'Duration'],
    ['latitude beyond 90°', withBody('P', { ObjectLatitude: '+90.00001' }), 'ObjectLatitude'],
    ['longitude beyond 180°', withBody('P', { ObjectLongitude: '-180.50000' }), 'ObjectLongitude'],
    [
      'a protective sign without a location (§4.3.1.6)',
      withBody('P', { ObjectLatitude: '+99.99999', ObjectLongitude: '+999.99999' }),
      'ObjectLatitude',
    ],
    ['a reserved subject code (P04)', withBody('P', { SubjectCode: '04' }), 'SubjectCode'],
    ['a private-use subject where there is none (PF0)', withBody('P', { SubjectCode: 'F0' }), 'SubjectCode'],
    ['a reserved object type (24)', withBody('D', { ObjectType: '24' }), 'ObjectType'],
    [
      'a minefield on a person (D2x refers to areas only)',
      withBody('D', { SubjectCode: '21', ObjectType: '11', ObjectSizeDim1: '0000', ObjectOrientation: '999' }),
      'ObjectType',
    ],
    ['a proof of life for a building (S1x refers to persons only)', withBody('S', { SubjectCode: '11' }), 'ObjectType'],
    [
      'a shaped area without a size (§4.3.1.7)',
      withBody('I', { ObjectSizeDim1: '0000', ObjectSizeDim2: '0000', ObjectOrientation: '999' }),
      'ObjectSizeDim1',
    ],
    ['a circle with a second dimension', withBody('D', { ObjectSizeDim2: '0100' }), 'ObjectSizeDim2'],
    [
      'an unspecified structure with a size',
      withBody('S', { ObjectSizeDim1: '0010', ObjectOrientation: '000' }),
      'ObjectSizeDim1',
    ],
    ['a size without an orientation (§4.3.1.8)', withBody('I', { ObjectOrientation: '999' }), 'ObjectOrientation'],
    ['an orientation without a size', withBody('S', { ObjectOrientation: '090' }), 'ObjectOrientation'],
    [
      'request objects outside a Q message',
      withBody('I', { requestObjects: [{ ObjectType: '40', ObjectTypeQuant: '01' }] }),
      'requestObjects',
    ],
    [
      'a request for a structure (§4.3.1.9)',
      withBody('Q', { requestObjects: [{ ObjectType: '30', ObjectTypeQuant: '01' }] }),
      'requestObjects.0.ObjectType',
    ],
    [
      'a request for a vague group of people',
      withBody('Q', { requestObjects: [{ ObjectType: '13', ObjectTypeQuant: '01' }] }),
      'requestObjects.0.ObjectType',
    ],
    [
      'nine request objects',
      withBody('Q', { requestObjects: Array.from({ length: 9 }, () => ({ ObjectType: '40', ObjectTypeQuant: '01' })) }),
      'requestObjects',
    ],
    ['a request whose object is not an area', withBody('Q', { ObjectType: '31' }), 'ObjectType'],
    ['a reserved verification method', withBody('A', { VerificationMethod: '3' }), 'VerificationMethod'],
    ['method 1 without a URL', withBody('A', { VerificationData: 'not a url' }), 'VerificationData'],
    [
      'method 2 with a short token',
      withBody('A', { VerificationMethod: '2', VerificationData: 'abcd' }),
      'VerificationData',
    ],
    ['a reserved crypto data type', withBody('K', { CryptoDataType: '05' }), 'CryptoDataType'],
    ['an ECDH key that is not a compressed point', withBody('K', { CryptoData: `04${'ab'.repeat(32)}` }), 'CryptoData'],
    [
      'an initialisation vector of 8 bytes',
      withBody('K', { CryptoDataType: '21', CryptoData: 'ab'.repeat(8) }),
      'CryptoData',
    ],
    ['a resource without a URL', withBody('R', { ResourceData: 'ftp:/x' }), 'ResourceData'],
    [
      'a test message whose tested sign is invalid',
      composeWhiteflag('T', {
        PseudoMessageCode: 'D',
        PseudoMessageBody: { ...WHITEFLAG_EXAMPLES.D.MessageBody, SubjectCode: '16' },
      }),
      'SubjectCode',
    ],
  ];
  for (const [what, m, field] of cases) {
    it(`refuses ${what}`, () => {
      const fields = refused(m);
      assert.ok(
        fields.some((f) => f.endsWith(field)),
        `expected a problem on ${field}, got ${fields.join(', ')}`,
      );
    });
  }

  it('refuses reserved header values: version, encryption 3-9, reference A-F, unknown message code', () => {
    const f = WHITEFLAG_EXAMPLES.F;
    assert.deepEqual(refused(withHeader(f, { Version: '2' })), ['MessageHeader.Version']);
    assert.deepEqual(refused(withHeader(f, { EncryptionIndicator: '5' })), ['MessageHeader.EncryptionIndicator']);
    assert.deepEqual(refused(withHeader(f, { ReferenceIndicator: 'B' })), ['MessageHeader.ReferenceIndicator']);
  });

  it('an initialisation vector must be an unencrypted K(3) without duress (§5.2.4.1)', () => {
    const iv = composeWhiteflag(
      'K',
      { CryptoDataType: '21', CryptoData: 'ab'.repeat(16) },
      { ReferenceIndicator: '3', ReferencedMessage: 'cd'.repeat(32) },
    );
    assert.ok(validateWhiteflag(iv).ok);
    assert.ok(refused(withHeader(iv, { ReferenceIndicator: '0' })).length > 0);
    assert.ok(refused(withHeader(iv, { DuressIndicator: '1' })).length > 0);
    assert.ok(refused(withHeader(iv, { EncryptionIndicator: '2' })).length > 0);
  });

  it('accepts private-use codes, the omitted location where allowed, a leap day and a leap second', () => {
    assert.ok(validateWhiteflag(withBody('S', { SubjectCode: 'F3' })).ok);
    assert.ok(validateWhiteflag(withBody('D', { DateTime: '2028-02-29T23:59:60Z' })).ok);
    assert.ok(validateWhiteflag(withBody('E', {})).ok, 'an emergency signal may hide its location');
    assert.ok(validateWhiteflag(withBody('A', { VerificationMethod: 'B', VerificationData: 'anything' })).ok);
  });
});

describe('Whiteflag referencing (§5.4.1)', () => {
  const h = (MessageCode: string, ReferenceIndicator: string) => ({ MessageCode, ReferenceIndicator });
  const ref = (MessageCode: string, ReferenceIndicator: string, sameOriginator: boolean) => ({
    header: h(MessageCode, ReferenceIndicator),
    sameOriginator,
  });
  const code = (r: { ok: boolean; error?: { code: string } }) => (r.ok ? 'ok' : r.error!.code);

  it('allows the sequences of the standard’s examples', () => {
    // §5.4.2.2: P10(0) < P10(2) << R01(3) <<< P10(4)
    assert.equal(code(checkReference(h('P', '2'), ref('P', '0', true))), 'ok');
    assert.equal(code(checkReference(h('R', '3'), ref('P', '0', true))), 'ok');
    assert.equal(code(checkReference(h('P', '4'), ref('P', '0', true))), 'ok');
    // §5.4.2.3: D32(0)X < E12(5)X, S26(5)Y relating to it
    assert.equal(code(checkReference(h('E', '5'), ref('D', '0', true))), 'ok');
    // §5.4.2.4: D21(0)X < D21(6)Y
    assert.equal(code(checkReference(h('D', '6'), ref('D', '0', false))), 'ok');
    // §5.2.4.1: an initialisation vector K(3) after the encrypted message
    assert.equal(code(checkReference(h('K', '3'), ref('S', '0', true))), 'ok');
    // §5.4.2.1: A(6)Y confirms A(0)X
    assert.equal(code(checkReference(h('A', '6'), ref('A', '0', false))), 'ok');
  });

  it('refuses what the tables prohibit', () => {
    assert.equal(code(checkReference(h('I', '5'), ref('D', '0', true))), 'ERR_WHITEFLAG_REFERENCE_INVALID');
    assert.equal(code(checkReference(h('A', '3'), ref('S', '0', true))), 'ERR_WHITEFLAG_REFERENCE_INVALID');
    assert.equal(code(checkReference(h('S', '3'), ref('S', '0', true))), 'ERR_WHITEFLAG_REFERENCE_INVALID');
  });

  it('recall, update and discontinue are for the same originator; confirm, comply and reject for another', () => {
    assert.equal(code(checkReference(h('D', '1'), ref('D', '0', false))), 'ERR_WHITEFLAG_REFERENCE_INVALID');
    assert.equal(code(checkReference(h('D', '2'), ref('D', '0', false))), 'ERR_WHITEFLAG_REFERENCE_INVALID');
    assert.equal(code(checkReference(h('D', '6'), ref('D', '0', true))), 'ERR_WHITEFLAG_REFERENCE_INVALID');
    assert.equal(code(checkReference(h('Q', '9'), ref('Q', '0', true))), 'ERR_WHITEFLAG_REFERENCE_INVALID');
    assert.equal(code(checkReference(h('Q', '9'), ref('Q', '0', false))), 'ok');
  });

  it('refuses a reference code that may not follow the referenced one (§5.4.1.2)', () => {
    // an update (2) of a recall (1), a relation (5) to a confirmation (6)
    assert.equal(code(checkReference(h('D', '2'), ref('D', '1', true))), 'ERR_WHITEFLAG_REFERENCE_INVALID');
    assert.equal(code(checkReference(h('E', '5'), ref('D', '6', true))), 'ERR_WHITEFLAG_REFERENCE_INVALID');
  });

  it('lets originals and test messages through', () => {
    assert.equal(code(checkReference(h('D', '0'), ref('A', '9', false))), 'ok');
    assert.equal(code(checkReference(h('T', '7'), ref('K', '1', true))), 'ok');
  });

  it('writes the notation of §2.7', () => {
    assert.equal(notation(WHITEFLAG_EXAMPLES.D), 'DC1(0)');
    assert.equal(notation(withHeader(WHITEFLAG_EXAMPLES.S, { EncryptionIndicator: '2' })), '[S24(0)]');
  });
});
