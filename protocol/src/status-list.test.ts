import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  Bitstring,
  decodeStatusList,
  encodeStatusList,
  parseStatusListEntries,
  STATUS_LIST_MIN_ENTRIES,
  statusListEntry,
  statusListSubject,
} from './status-list.js';

describe('Bitstring Status List codec', () => {
  it('decodes the all-zero example list of the W3C spec (Bitstring Status List §2.2, example 2)', () => {
    const r = decodeStatusList('uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA');
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value.length, STATUS_LIST_MIN_ENTRIES);
    assert.ok(r.value.bytes.every((b) => b === 0));
  });

  it('numbers bits MSB-first: index 0 is the left-most bit of the first byte', () => {
    const bits = Bitstring.create();
    bits.set(0, true);
    bits.set(7, true);
    bits.set(9, true);
    assert.equal(bits.bytes[0], 0b1000_0001);
    assert.equal(bits.bytes[1], 0b0100_0000);
    assert.ok(bits.get(0) && bits.get(7) && bits.get(9));
    assert.ok(!bits.get(1) && !bits.get(8));
    bits.set(7, false);
    assert.equal(bits.bytes[0], 0b1000_0000);
  });

  it('round-trips through gzip + multibase base64url, with at least 131,072 entries', () => {
    const bits = Bitstring.create();
    assert.equal(bits.length, 131_072);
    const set = [0, 1, 42, 65_535, 131_071];
    for (const i of set) bits.set(i, true);
    const encoded = bits.encode();
    assert.match(encoded, /^uH4sI[A-Za-z0-9_-]+$/, 'multibase u prefix, gzip magic, no padding');
    // an independent reading: gunzip the base64url body and look at raw bytes
    const raw = gunzipSync(Buffer.from(encoded.slice(1), 'base64url'));
    assert.equal(raw.length, 16_384);
    assert.equal(raw[131_071 >> 3], 0b0000_0001);
    const back = decodeStatusList(encoded);
    assert.ok(back.ok);
    for (let i = 0; i < back.value.length; i++) assert.equal(back.value.get(i), set.includes(i), `bit ${i}`);
  });

  it('accepts a larger list and the bare base64url form of StatusList2021', () => {
    const bits = Bitstring.create(1_000_000);
    bits.set(999_999, true);
    const bare = gzipSync(bits.bytes).toString('base64url');
    const r = decodeStatusList(bare);
    assert.ok(r.ok);
    assert.equal(r.value.length, 1_000_000);
    assert.ok(r.value.get(999_999));
  });

  it('refuses lists that are too short, not gzip, not base64url, or a gzip bomb', () => {
    assert.throws(() => Bitstring.create(1024), RangeError);
    const short = decodeStatusList(encodeStatusList(new Uint8Array(1024)));
    assert.ok(!short.ok && short.error.code === 'ERR_VC_STATUS_UNAVAILABLE' && /131072/.test(short.error.message));
    for (const bad of ['', 'u', 'u!!!!', 'uAAAA', 42]) {
      const r = decodeStatusList(bad);
      assert.ok(!r.ok && r.error.code === 'ERR_VC_STATUS_UNAVAILABLE', String(bad));
    }
    const bomb = encodeStatusList(new Uint8Array(64 * 1024 * 1024));
    const r = decodeStatusList(bomb);
    assert.ok(!r.ok && r.error.code === 'ERR_VC_STATUS_UNAVAILABLE');
  });

  it('refuses out-of-range indexes instead of reading past the list', () => {
    const bits = Bitstring.create();
    assert.throws(() => bits.get(131_072), RangeError);
    assert.throws(() => bits.set(-1, true), RangeError);
    assert.throws(() => bits.get(1.5), RangeError);
  });

  it('builds and parses the credentialStatus entry shape', () => {
    const url = 'https://issuer.example/status/1';
    const entry = statusListEntry(url, 94567, 'suspension');
    assert.deepEqual(entry, {
      id: 'https://issuer.example/status/1#94567',
      type: 'BitstringStatusListEntry',
      statusPurpose: 'suspension',
      statusListIndex: '94567',
      statusListCredential: url,
    });
    const both = parseStatusListEntries([statusListEntry(url, 1), entry]);
    assert.ok(both.ok);
    assert.deepEqual(
      both.value.map((e) => e.statusPurpose),
      ['revocation', 'suspension'],
    );
    const subject = statusListSubject(url, 'revocation', Bitstring.create());
    assert.equal(subject.type, 'BitstringStatusList');
    assert.ok(decodeStatusList(subject.encodedList).ok);
  });

  it('refuses status entries it cannot check, so they never read as valid', () => {
    const good = statusListEntry('https://issuer.example/s', 3);
    for (const bad of [
      null,
      { ...good, type: 'StatusList2021Entry' },
      { ...good, statusPurpose: 'message' },
      { ...good, statusListIndex: 3 },
      { ...good, statusListIndex: '-1' },
      { ...good, statusListIndex: '007' },
      { ...good, statusListCredential: 'not a url' },
      { ...good, statusSize: 2 },
    ]) {
      const r = parseStatusListEntries(bad);
      assert.ok(!r.ok && r.error.code === 'ERR_VC_MALFORMED', JSON.stringify(bad));
    }
  });
});
