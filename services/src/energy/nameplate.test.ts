import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nameplateOf } from './part.js';

test("a gateway binding records the credential's nameplate, and refuses a producing meter that hides it", () => {
  assert.deepEqual(nameplateOf({ meterId: 'M', role: 'consumer' }), { ok: true, value: 0 });
  assert.deepEqual(nameplateOf({ meterId: 'M', role: 'prosumer', nameplateKw: 6.25 }), { ok: true, value: 6250 });
  // an SD-JWT VC presented for meterId and role alone: no silent limit of 0 W
  const hidden = nameplateOf({ meterId: 'M', role: 'prosumer' });
  assert.equal(hidden.ok, false);
  assert.equal(!hidden.ok && hidden.error.code, 'ERR_POLICY_DENIED');
  assert.match(!hidden.ok ? hidden.error.message : '', /must show nameplateKw/);
  assert.equal(nameplateOf({ meterId: 'M', role: 'producer', nameplateKw: 0 }).ok, false);
});
