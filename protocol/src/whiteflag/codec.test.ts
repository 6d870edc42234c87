import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  composeWhiteflag,
  decodeWhiteflag,
  deserializeWhiteflag,
  encodeWhiteflag,
  fromHex,
  parseWhiteflagMessage,
  serializeWhiteflag,
  toHex,
  type WhiteflagMessage,
} from './codec.js';
import { WHITEFLAG_MAX_MESSAGE_BYTES } from './definitions.js';
import { WHITEFLAG_EXAMPLES } from './examples.js';
import { validateWhiteflag } from './validate.js';

// Test vectors, each from the repository, path and commit named beside it (facts only; no code was taken).
const JS = 'WhiteflagProtocol/whiteflag-js test/core/message.json @ 58f47e3c1a560c02bf2a6d03e1286bf67aeb2baf';
const JS_CODEC = 'WhiteflagProtocol/whiteflag-js test/core/codec.json @ 58f47e3c1a560c02bf2a6d03e1286bf67aeb2baf';
const JAVA =
  'WhiteflagProtocol/whiteflag-java src/test/java/org/whiteflagprotocol/java/WfMessageTest.java @ 5a3dc0069889443261993a21c4759db63ba551a2';
const API =
  'WhiteflagProtocol/whiteflag-api test/_static/protocol/crypto.testvector.json @ e036deca2b8cefa351c2307a0080e32c7c089859';

const header = (h: Partial<WhiteflagMessage['MessageHeader']>) => ({
  Prefix: 'WF',
  Version: '1',
  EncryptionIndicator: '0',
  DuressIndicator: '0',
  ReferenceIndicator: '0',
  ReferencedMessage: '0'.repeat(64),
  MessageCode: 'F',
  ...h,
});

interface Vector {
  source: string;
  name: string;
  encoded?: string;
  serialized?: string;
  json: WhiteflagMessage;
  /** Whether the message also meets the standard's semantic rules (some vectors only exercise the codec). */
  valid: boolean;
}

const VECTORS: Vector[] = [
  {
    source: `${JS} #1`,
    name: 'A1 authentication with a URL',
    encoded:
      '5746313020800000000000000000000000000000000000000000000000000000000000000000b43a3a38399d1797b7b933b0b734b9b0ba34b7b71734b73a17bbb434ba32b33630b380',
    serialized:
      'WF100A000000000000000000000000000000000000000000000000000000000000000001https://organisation.int/whiteflag',
    json: {
      MessageHeader: header({ MessageCode: 'A' }),
      MessageBody: { VerificationMethod: '1', VerificationData: 'https://organisation.int/whiteflag' },
    },
    valid: true,
  },
  {
    source: `${JS} #2`,
    name: 'M80(4) mission signal under duress, rectangle area',
    encoded:
      '57463130a6a1f7da7067d41891592131a12a60c9053b4eb0aefe6263385da9f5b789421e1d7401009841882148a800000114c1e596006f04c050eca6420084',
    serialized:
      'WF101M43efb4e0cfa83122b242634254c1920a769d615dfcc4c670bb53eb6f12843c3ae802013-08-31T04:29:15ZP00D00H00M22+30.79658-037.8260287653210042',
    json: {
      MessageHeader: header({
        DuressIndicator: '1',
        MessageCode: 'M',
        ReferenceIndicator: '4',
        ReferencedMessage: '3efb4e0cfa83122b242634254c1920a769d615dfcc4c670bb53eb6f12843c3ae',
      }),
      MessageBody: {
        SubjectCode: '80',
        DateTime: '2013-08-31T04:29:15Z',
        Duration: 'P00D00H00M',
        ObjectType: '22',
        ObjectLatitude: '+30.79658',
        ObjectLongitude: '-037.82602',
        ObjectSizeDim1: '8765',
        ObjectSizeDim2: '3210',
        ObjectOrientation: '042',
      },
    },
    valid: true,
  },
  {
    source: `${JS} #3`,
    name: 'F(5) free text',
    encoded:
      '57463130232fb60f0f6c4a8589bddcf076e790ac9eb1601d3fd9ced67eaaa62c9fb9644a16fabb434ba32b33630b3903a32b9ba1036b2b9b9b0b3b2908',
    serialized: 'WF100F5f6c1e1ed8950b137bb9e0edcf21593d62c03a7fb39dacfd554c593f72c8942dfWhiteflag test message!',
    json: {
      MessageHeader: header({
        ReferenceIndicator: '5',
        ReferencedMessage: 'f6c1e1ed8950b137bb9e0edcf21593d62c03a7fb39dacfd554c593f72c8942df',
      }),
      MessageBody: { Text: 'Whiteflag test message!' },
    },
    valid: true,
  },
  {
    source: `${JS} #4`,
    name: 'T(9) test of an M80 (the vector writes the tested body flat; Annex B nests it)',
    encoded:
      '574631302a4fe8927067d41891592131a12a60c9053b4eb0aefe6263385da9f5b789421e1cca6c01009841882148a800000114c1e58a006f02c050e8a646208e',
    serialized:
      'WF100T9fd124e0cfa83122b242634254c1920a769d615dfcc4c670bb53eb6f12843c399M802013-08-31T04:29:15ZP00D00H00M22+30.79628-037.8160287453231047',
    json: {
      MessageHeader: header({
        MessageCode: 'T',
        ReferenceIndicator: '9',
        ReferencedMessage: 'fd124e0cfa83122b242634254c1920a769d615dfcc4c670bb53eb6f12843c399',
      }),
      MessageBody: {
        PseudoMessageCode: 'M',
        PseudoMessageBody: {
          SubjectCode: '80',
          DateTime: '2013-08-31T04:29:15Z',
          Duration: 'P00D00H00M',
          ObjectType: '22',
          ObjectLatitude: '+30.79628',
          ObjectLongitude: '-037.81602',
          ObjectSizeDim1: '8745',
          ObjectSizeDim2: '3231',
          ObjectOrientation: '047',
        },
      },
    },
    valid: true,
  },
  {
    source: `${JS} #5 (unencryptedMessage)`,
    name: 'F(0) marked for encryption method 2, before encryption',
    encoded:
      '5746313223000000000088888889111111119999999a22222222aaaaaaab33333333bbbbbbbb0983098309830983118b118b118b118b1993199319931993219b219b219b219b29a329a329a329a331ab31ab31ab31a9b1b9b1b9b1b9b1b9c1c9c1c9c1c9c1c8',
    json: {
      MessageHeader: header({
        EncryptionIndicator: '2',
        ReferencedMessage: '0000000011111111222222223333333344444444555555556666666677777777',
      }),
      MessageBody: { Text: 'a0a0a0a0b1b1b1b1c2c2c2c2d3d3d3d3e4e4e4e4f5f5f5f56767676789898989' },
    },
    valid: true,
  },
  {
    source: `${API} #3 (unencryptedMessage)`,
    name: 'E00(0) whose vehicle object has a size (codec only: §4.3.1.7 forbids the size)',
    encoded:
      '574631302280000088891111999a2222aaab3333bbbc4444cccd5555ddde6666eeef7777fff8010000080800000000000284c80000006a0000002020020020',
    json: {
      MessageHeader: header({
        MessageCode: 'E',
        ReferencedMessage: '0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff',
      }),
      MessageBody: {
        SubjectCode: '00',
        DateTime: '2000-01-01T00:00:00Z',
        Duration: 'P00D00H00M',
        ObjectType: '50',
        ObjectLatitude: '+32.00000',
        ObjectLongitude: '-035.00000',
        ObjectSizeDim1: '0101',
        ObjectSizeDim2: '0010',
        ObjectOrientation: '010',
      },
    },
    valid: false,
  },
  {
    source: `${JAVA} testAuthMessageSerialization`,
    name: 'A2 authentication with a token',
    serialized:
      'WF100A000000000000000000000000000000000000000000000000000000000000000002b01218a30dd3c23d050af254bfcce31a715fecdff6a23fd59609612e6e0ef263',
    json: {
      MessageHeader: header({ MessageCode: 'A' }),
      MessageBody: {
        VerificationMethod: '2',
        VerificationData: 'b01218a30dd3c23d050af254bfcce31a715fecdff6a23fd59609612e6e0ef263',
      },
    },
    valid: true,
  },
  {
    source: `${JAVA} testTestMessage`,
    name: 'T(3) under duress testing an M80',
    serialized:
      'WF101T33efb4e0cfa83122b242634254c1920a769d615dfcc4c670bb53eb6f12843c3aeM802013-08-31T04:29:15ZP00D00H00M22+30.79658-037.8260287653210042',
    json: {
      MessageHeader: header({
        DuressIndicator: '1',
        MessageCode: 'T',
        ReferenceIndicator: '3',
        ReferencedMessage: '3efb4e0cfa83122b242634254c1920a769d615dfcc4c670bb53eb6f12843c3ae',
      }),
      MessageBody: {
        PseudoMessageCode: 'M',
        PseudoMessageBody: {
          SubjectCode: '80',
          DateTime: '2013-08-31T04:29:15Z',
          Duration: 'P00D00H00M',
          ObjectType: '22',
          ObjectLatitude: '+30.79658',
          ObjectLongitude: '-037.82602',
          ObjectSizeDim1: '8765',
          ObjectSizeDim2: '3210',
          ObjectOrientation: '042',
        },
      },
    },
    valid: true,
  },
  {
    source: `${JAVA} testRequestMessage`,
    name: 'Q80(1) with two request objects (codec only: Q80 is reserved and areas cannot be requested)',
    serialized:
      'WF101Q13efb4e0cfa83122b242634254c1920a769d615dfcc4c670bb53eb6f12843c3ae802013-08-31T04:29:15ZP01D00H00M22+31.79658-033.826028799321000010022003',
    json: {
      MessageHeader: header({
        DuressIndicator: '1',
        MessageCode: 'Q',
        ReferenceIndicator: '1',
        ReferencedMessage: '3efb4e0cfa83122b242634254c1920a769d615dfcc4c670bb53eb6f12843c3ae',
      }),
      MessageBody: {
        SubjectCode: '80',
        DateTime: '2013-08-31T04:29:15Z',
        Duration: 'P01D00H00M',
        ObjectType: '22',
        ObjectLatitude: '+31.79658',
        ObjectLongitude: '-033.82602',
        ObjectSizeDim1: '8799',
        ObjectSizeDim2: '3210',
        ObjectOrientation: '000',
        requestObjects: [
          { ObjectType: '10', ObjectTypeQuant: '02' },
          { ObjectType: '20', ObjectTypeQuant: '03' },
        ],
      },
    },
    valid: false,
  },
  {
    source: `${JAVA} testCryptoMessageCompilation`,
    name: 'K11(0) with 32 bytes of data (codec only: an initialisation vector is 16 bytes, sent as K(3))',
    json: {
      MessageHeader: header({ MessageCode: 'K' }),
      MessageBody: {
        CryptoDataType: '11',
        CryptoData: 'd426bbe111221675e333f30ef608b1aa6e60a47080dd33cb49e96395894ef42f',
      },
    },
    valid: false,
  },
];

describe('Whiteflag codec against the reference implementations’ test messages', () => {
  for (const v of VECTORS) {
    it(`${v.name} [${v.source}]`, () => {
      const encoded = encodeWhiteflag(v.json);
      assert.ok(encoded.ok, JSON.stringify(!encoded.ok && encoded.error));
      if (v.encoded) {
        assert.equal(toHex(encoded.value), v.encoded, 'encodes to the vector');
        const decoded = decodeWhiteflag(v.encoded);
        assert.ok(decoded.ok);
        assert.deepEqual(decoded.value, v.json, 'decodes to the vector');
      }
      const back = decodeWhiteflag(encoded.value);
      assert.ok(back.ok);
      assert.deepEqual(back.value, v.json, 'round trip through the binary form');
      const serialized = serializeWhiteflag(v.json);
      assert.ok(serialized.ok);
      if (v.serialized) assert.equal(serialized.value, v.serialized, 'serializes to the vector');
      const parsed = deserializeWhiteflag(serialized.value);
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.value, v.json, 'round trip through the concatenated form');
      assert.equal(validateWhiteflag(v.json).ok, v.valid, 'meets the standard’s rules (or not, as noted)');
    });
  }

  it(`field encodings: date-time, duration, latitude, longitude [${JS_CODEC}]`, () => {
    // An S20 whose fields are the codec vectors; header (301 bits) and subject code (8 bits) come first.
    const m = composeWhiteflag('S', {
      SubjectCode: '20',
      DateTime: '2020-07-01T21:42:23Z',
      Duration: 'P24D11H30M',
      ObjectType: '30',
      ObjectLatitude: '+23.34244',
      ObjectLongitude: '-163.34245',
      ObjectSizeDim1: '0000',
      ObjectSizeDim2: '0000',
      ObjectOrientation: '999',
    });
    const e = encodeWhiteflag(m);
    assert.ok(e.ok);
    const bits = [...e.value].map((b) => b.toString(2).padStart(8, '0')).join('');
    const hexOf = (from: number, width: number) => {
      const slice = bits.slice(from, from + width).padEnd(Math.ceil(width / 8) * 8, '0');
      return BigInt(`0b${slice}`)
        .toString(16)
        .padStart(Math.ceil(width / 8) * 2, '0');
    };
    const at = 301 + 8;
    assert.equal(hexOf(at, 56), '20200701214223');
    assert.equal(hexOf(at + 56, 24), '241130');
    assert.equal(hexOf(at + 56 + 24 + 8, 29), '919a1220');
    assert.equal(hexOf(at + 56 + 24 + 8 + 29, 33), '0b19a12280');
    assert.ok(validateWhiteflag(m).ok);
  });

  it('reads the flat test body and ObjectTypeN request fields of the reference libraries into the Annex B form', () => {
    const flat = parseWhiteflagMessage({
      MessageHeader: header({ MessageCode: 'T', DuressIndicator: false as unknown as string }),
      MessageBody: {
        PseudoMessageCode: 'Q',
        SubjectCode: '20',
        DateTime: '2024-01-01T00:00:00Z',
        Duration: 'P01D00H00M',
        ObjectType: '21',
        ObjectLatitude: '+43.30000',
        ObjectLongitude: '+005.37000',
        ObjectSizeDim1: '0500',
        ObjectSizeDim2: '0000',
        ObjectOrientation: '000',
        ObjectType1: '40',
        ObjectType1Quant: '03',
      },
    });
    assert.ok(flat.ok);
    assert.equal(flat.value.MessageHeader.DuressIndicator, '0');
    assert.deepEqual(flat.value.MessageBody['PseudoMessageBody']?.requestObjects, [
      { ObjectType: '40', ObjectTypeQuant: '03' },
    ]);
  });
});

describe('Whiteflag codec round trips', () => {
  for (const [code, m] of Object.entries(WHITEFLAG_EXAMPLES)) {
    it(`a ${code} message survives binary and concatenated round trips and meets the standard`, () => {
      assert.ok(validateWhiteflag(m).ok, JSON.stringify(validateWhiteflag(m)));
      const e = encodeWhiteflag(m);
      assert.ok(e.ok);
      assert.deepEqual(decodeWhiteflag(e.value), { ok: true, value: m });
      const s = serializeWhiteflag(m);
      assert.ok(s.ok);
      assert.deepEqual(deserializeWhiteflag(s.value), { ok: true, value: m });
    });
  }

  it('normalises hex case: codes upper, hashes and key material lower', () => {
    const m = composeWhiteflag('K', { CryptoDataType: '0a', CryptoData: `03${'AB'.repeat(32)}` });
    const p = parseWhiteflagMessage(m);
    assert.ok(p.ok);
    assert.equal(p.value.MessageBody['CryptoDataType'], '0A');
    assert.equal(p.value.MessageBody['CryptoData'], `03${'ab'.repeat(32)}`);
  });
});

describe('Whiteflag codec refusals', () => {
  const f = encodeWhiteflag(WHITEFLAG_EXAMPLES['F']!);
  assert.ok(f.ok);
  const good = f.value;
  const code = (r: { ok: boolean; error?: { code: string } }) => (r.ok ? 'ok' : r.error!.code);

  it('refuses data without the WF prefix, of another version, or not hex', () => {
    assert.equal(code(decodeWhiteflag(Uint8Array.from([0x57, 0x47, 0x31, 0x30, 0, 0]))), 'ERR_WHITEFLAG_MALFORMED');
    const v2 = Uint8Array.from(good);
    v2[2] = 0x32;
    assert.equal(code(decodeWhiteflag(v2)), 'ERR_WHITEFLAG_MALFORMED');
    assert.equal(code(decodeWhiteflag('5746zz')), 'ERR_WHITEFLAG_MALFORMED');
    assert.equal(code(decodeWhiteflag('574')), 'ERR_WHITEFLAG_MALFORMED');
    assert.equal(code(decodeWhiteflag(new Uint8Array(0))), 'ERR_WHITEFLAG_MALFORMED');
  });

  it('refuses a truncated message and bytes after the last field', () => {
    const s = encodeWhiteflag(WHITEFLAG_EXAMPLES['S']!);
    assert.ok(s.ok);
    assert.equal(code(decodeWhiteflag(s.value.subarray(0, s.value.length - 3))), 'ERR_WHITEFLAG_MALFORMED');
    assert.equal(code(decodeWhiteflag(Uint8Array.from([...s.value, 0, 0]))), 'ERR_WHITEFLAG_MALFORMED');
    assert.equal(code(decodeWhiteflag(good.subarray(0, 20))), 'ERR_WHITEFLAG_MALFORMED');
  });

  it('refuses an unknown message code, a non-decimal digit and a byte above 0x7f', () => {
    const x = Uint8Array.from(good);
    // the message code sits after the duress bit: bits 33 to 40 of the header
    x[4] = (x[4]! & 0x80) | (0x58 >> 1);
    x[5] = (x[5]! & 0x7f) | ((0x58 & 1) << 7);
    const r = decodeWhiteflag(x);
    assert.equal(code(r), 'ERR_WHITEFLAG_MALFORMED');
    assert.match(r.ok ? '' : r.error.message, /'X' is not a message type/);

    const s = encodeWhiteflag(WHITEFLAG_EXAMPLES['S']!);
    assert.ok(s.ok);
    const bad = Uint8Array.from(s.value);
    bad[39] = 0xff; // inside the date-time digits
    assert.equal(code(decodeWhiteflag(bad)), 'ERR_WHITEFLAG_MALFORMED');
    const high = Uint8Array.from(good);
    high[high.length - 2] = 0xff;
    assert.equal(code(decodeWhiteflag(high)), 'ERR_WHITEFLAG_MALFORMED');
  });

  it('refuses a message larger than the accepted size, encoded or to encode', () => {
    const big = composeWhiteflag('F', { Text: 'x'.repeat(WHITEFLAG_MAX_MESSAGE_BYTES) });
    assert.equal(code(encodeWhiteflag(big)), 'ERR_WHITEFLAG_TOO_LARGE');
    assert.equal(code(decodeWhiteflag(new Uint8Array(WHITEFLAG_MAX_MESSAGE_BYTES + 1))), 'ERR_WHITEFLAG_TOO_LARGE');
    assert.equal(code(fromHex('00'.repeat(WHITEFLAG_MAX_MESSAGE_BYTES + 1))), 'ERR_WHITEFLAG_TOO_LARGE');
  });

  it('lists every malformed field of a JSON message at once', () => {
    const r = encodeWhiteflag({
      MessageHeader: header({ MessageCode: 'S', ReferencedMessage: 'xyz', Extra: '1' } as never),
      MessageBody: {
        SubjectCode: '2',
        DateTime: '2026-12-06 10:00',
        Duration: 'PT1H',
        ObjectType: '30',
        ObjectLatitude: '43.3',
        ObjectLongitude: '+005.37000',
        ObjectSizeDim1: '0000',
        ObjectSizeDim2: 0,
        ObjectOrientation: '999',
        Colour: 'red',
      },
    });
    assert.equal(code(r), 'ERR_WHITEFLAG_FIELD_INVALID');
    const fields = (r.ok ? [] : (r.error.details as { field: string }[])).map((d) => d.field).sort();
    assert.deepEqual(fields, [
      'MessageBody.Colour',
      'MessageBody.DateTime',
      'MessageBody.Duration',
      'MessageBody.ObjectLatitude',
      'MessageBody.ObjectSizeDim2',
      'MessageBody.SubjectCode',
      'MessageHeader.Extra',
      'MessageHeader.ReferencedMessage',
    ]);
  });

  it('refuses text outside 7-bit characters and a test message that tests a test message', () => {
    assert.equal(
      code(encodeWhiteflag(composeWhiteflag('F', { Text: 'Überschwemmung' }))),
      'ERR_WHITEFLAG_FIELD_INVALID',
    );
    assert.equal(
      code(encodeWhiteflag(composeWhiteflag('T', { PseudoMessageCode: 'T', PseudoMessageBody: {} }))),
      'ERR_WHITEFLAG_FIELD_INVALID',
    );
    assert.equal(code(deserializeWhiteflag('WF100X' + '0'.repeat(64))), 'ERR_WHITEFLAG_MALFORMED');
    assert.equal(code(parseWhiteflagMessage([])), 'ERR_WHITEFLAG_FIELD_INVALID');
  });
});
