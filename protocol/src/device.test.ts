import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEVICE_TRANSITIONS,
  HANDSHAKE_OCRA_SUITE,
  HANDSHAKE_SUITE,
  canTransition,
  canonicalCharacteristics,
  deviceFingerprint,
  deviceIdFromTopic,
  deviceIdOf,
  deviceTopicPermissions,
  whiteflagSignalOfTopic,
  handshakeTopicPermissions,
  parseHandshakeMessage,
  permissionTemplate,
  secretCommitment,
  templateAllows,
  templateFilters,
  topicAllowed,
  topicMatches,
  topics,
  transcriptDigest,
  type HandshakeTranscript,
} from './device.js';
import { ocraClientResponse, ocraResponsesEqual, ocraServerProof } from './ocra.js';

const chars = {
  model: 'SMGW-1000',
  serial: 'SN-000123',
  hardwareRevision: 'r2',
  firmwareHash: 'ab'.repeat(32),
  mac: '00:1A:2b:3c:4D:5e',
};
const id = deviceIdOf('0x00000000000000000000000000000000000000aa', 'SN-000123');

describe('device characteristics fingerprint', () => {
  it('is the same for equivalent spellings (hex case, 0x, MAC separators, key order, whitespace)', () => {
    const a = deviceFingerprint(chars);
    const b = deviceFingerprint({
      mac: '001a2b3c4d5e',
      firmwareHash: `0x${'AB'.repeat(32)}`,
      hardwareRevision: ' r2 ',
      serial: 'SN-000123',
      model: 'SMGW-1000',
    });
    assert.ok(a.ok && b.ok);
    assert.match(a.value, /^0x[0-9a-f]{64}$/);
    assert.equal(a.value, b.value);
    const c = canonicalCharacteristics(chars);
    assert.ok(c.ok);
    assert.equal(
      c.value,
      `{"firmwareHash":"${'ab'.repeat(32)}","hardwareRevision":"r2","mac":"00:1a:2b:3c:4d:5e","model":"SMGW-1000","serial":"SN-000123"}`,
    );
  });

  it('changes when the firmware or the hardware differs', () => {
    const base = deviceFingerprint(chars);
    const fw = deviceFingerprint({ ...chars, firmwareHash: 'cd'.repeat(32) });
    const mac = deviceFingerprint({ ...chars, mac: '00:1a:2b:3c:4d:5f' });
    assert.ok(base.ok && fw.ok && mac.ok);
    assert.notEqual(base.value, fw.value);
    assert.notEqual(base.value, mac.value);
  });

  it('refuses characteristics that fail the schema, listing every problem', () => {
    const r = deviceFingerprint({ ...chars, mac: 'nope', firmwareHash: '12', extra: 1 } as never);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, 'ERR_VALIDATION');
      assert.ok((r.error.details as unknown[]).length >= 3);
    }
  });
});

describe('secret commitment', () => {
  it('depends on salt and secret and refuses short inputs', () => {
    const salt = Buffer.alloc(32, 1);
    const secret = Buffer.alloc(32, 2);
    const c = secretCommitment(salt, secret);
    assert.match(c, /^0x[0-9a-f]{64}$/);
    assert.equal(c, secretCommitment(Buffer.alloc(32, 1), Buffer.alloc(32, 2)));
    assert.notEqual(c, secretCommitment(Buffer.alloc(32, 3), secret));
    assert.notEqual(c, secretCommitment(salt, Buffer.alloc(32, 3)));
    assert.throws(() => secretCommitment(salt, Buffer.alloc(16)));
    assert.throws(() => secretCommitment(Buffer.alloc(8), secret));
  });
});

describe('lifecycle table', () => {
  it('lets suspended devices resume and keeps revoked and decommissioned final', () => {
    assert.ok(canTransition('Active', 'Suspended'));
    assert.ok(canTransition('Suspended', 'Active'));
    assert.equal(canTransition('Registered', 'Suspended'), false);
    assert.deepEqual(DEVICE_TRANSITIONS.Revoked, []);
    assert.deepEqual(DEVICE_TRANSITIONS.Decommissioned, []);
  });
});

describe('MQTT topics', () => {
  it('builds the topic tree under tessera/v1/devices/{deviceId}', () => {
    assert.equal(topics.handshake(id, 'hello'), `tessera/v1/devices/${id}/handshake/hello`);
    assert.equal(topics.telemetry(id, 'meter'), `tessera/v1/devices/${id}/telemetry/meter`);
    assert.equal(deviceIdFromTopic(topics.command(id, 'reboot')), id);
    assert.equal(deviceIdFromTopic('tessera/v1/devices/x/status'), undefined);
    assert.throws(() => topics.telemetry(id, 'a/b'));
    assert.throws(() => topics.telemetry(id, '#'));
    assert.throws(() => topics.status('0xABC'));
  });

  it('matches filters as MQTT 3.1.1 §4.7 does', () => {
    assert.ok(topicMatches('a/+/c', 'a/b/c'));
    assert.ok(topicMatches('a/#', 'a/b/c'));
    assert.ok(topicMatches('a/#', 'a'));
    assert.equal(topicMatches('a/+', 'a/b/c'), false);
    assert.equal(topicMatches('a/b', 'a/b/c'), false);
    assert.equal(topicMatches('#', '$SYS/x'), false);
    assert.equal(topicMatches('a/+', 'a/#'), false);
  });

  it('gives a device exactly its own topics, and only its handshake before it authenticates', () => {
    const other = deviceIdOf('0x00000000000000000000000000000000000000aa', 'SN-999');
    const pre = handshakeTopicPermissions(id);
    assert.ok(topicAllowed(pre.publish, topics.handshake(id, 'response')));
    assert.equal(topicAllowed(pre.publish, topics.telemetry(id, 'meter')), false);
    const post = deviceTopicPermissions(id);
    assert.ok(topicAllowed(post.publish, topics.telemetry(id, 'meter')));
    assert.ok(topicAllowed(post.subscribe, topics.command(id, 'reboot')));
    assert.equal(topicAllowed(post.publish, topics.telemetry(other, 'meter')), false);
    assert.equal(topicAllowed(post.subscribe, topics.command(other, 'reboot')), false);
    assert.equal(topicAllowed(post.publish, topics.command(id, 'reboot')), false, 'a device cannot command itself');
    assert.ok(topicAllowed(post.publish, topics.whiteflagSignal(id, 'S')));
    assert.ok(topicAllowed(post.subscribe, topics.whiteflagInbox(id)));
    assert.equal(topicAllowed(post.publish, topics.whiteflagSignal(other, 'S')), false);
    assert.equal(topicAllowed(post.subscribe, topics.whiteflagInbox(other)), false);
    assert.equal(topicAllowed(post.publish, topics.whiteflagInbox(id)), false, 'a device cannot write its own inbox');
  });

  it('names Whiteflag signal topics by device and message code, and reads them back', () => {
    assert.equal(topics.whiteflagSignal(id, 'S'), `tessera/v1/devices/${id}/whiteflag/signals/S`);
    assert.deepEqual(whiteflagSignalOfTopic(topics.whiteflagSignal(id, 'E')), { deviceId: id, messageCode: 'E' });
    assert.ok(topicMatches(topics.whiteflagSignalsInbound(), topics.whiteflagSignal(id, 'S')));
    assert.equal(whiteflagSignalOfTopic(`tessera/v1/devices/${id}/whiteflag/signals/s`), undefined);
    assert.equal(whiteflagSignalOfTopic(`tessera/v1/devices/${id}/whiteflag/signals/S/x`), undefined);
    assert.equal(whiteflagSignalOfTopic(topics.telemetry(id, 'meter')), undefined);
    assert.throws(() => topics.whiteflagSignal(id, 'SS'), /not a Whiteflag message code/);
  });

  it('shares one permission template between devices granted the same shape, with the same decisions', () => {
    const other = deviceIdOf('0x00000000000000000000000000000000000000aa', 'SN-999');
    const mine = permissionTemplate(id, deviceTopicPermissions(id));
    assert.equal(permissionTemplate(other, deviceTopicPermissions(other)), mine, 'one shared object');
    assert.notEqual(permissionTemplate(id, handshakeTopicPermissions(id)), mine);
    assert.deepEqual(templateFilters(mine.publish, id), deviceTopicPermissions(id).publish);
    assert.deepEqual(templateFilters(mine.subscribe, other), deviceTopicPermissions(other).subscribe);
    // A wider policy grant (another device's topic, a shared topic) keeps its absolute levels.
    const wider = { publish: [topics.telemetry(other, 'meter'), 'tessera/v1/market/+/orders'], subscribe: ['#'] };
    const w = permissionTemplate(id, wider);
    assert.deepEqual(templateFilters(w.publish, id), wider.publish);
    const probes = [
      topics.telemetry(id, 'meter'),
      topics.telemetry(other, 'meter'),
      topics.command(id, 'reboot'),
      topics.command(other, 'reboot'),
      topics.handshake(id, 'hello'),
      topics.status(id),
      `${topics.status(id)}/x`,
      `tessera/v1/devices/${id}`,
      'tessera/v1/market/m1/orders',
      'tessera/v1/market/m1/orders/x',
      '$SYS/broker',
      `tessera/v1/devices/${id}/telemetry/#`,
      `tessera/v1/devices//telemetry/x`,
    ];
    for (const [perms, t, who] of [
      [deviceTopicPermissions(id), mine, id],
      [deviceTopicPermissions(other), mine, other],
      [wider, w, id],
    ] as const)
      for (const topic of probes) {
        assert.equal(templateAllows(t.publish, who, topic), topicAllowed(perms.publish, topic), `publish ${topic}`);
        assert.equal(
          templateAllows(t.subscribe, who, topic),
          topicAllowed(perms.subscribe, topic),
          `subscribe ${topic}`,
        );
      }
  });
});

describe('handshake messages', () => {
  const hello = {
    type: 'hello',
    v: 1,
    deviceId: id,
    did: 'did:ethr:0x7a69:0x00000000000000000000000000000000000000bb',
    clientNonce: '1'.repeat(64),
    fingerprint: `0x${'2'.repeat(64)}`,
    suite: HANDSHAKE_OCRA_SUITE,
  };

  it('parses a valid hello and refuses unknown fields, wrong suites, non-JSON and oversized payloads', () => {
    assert.ok(parseHandshakeMessage('hello', JSON.stringify(hello)).ok);
    for (const bad of [
      JSON.stringify({ ...hello, extra: true }),
      JSON.stringify({ ...hello, suite: 'OCRA-1:HOTP-SHA1-6:QN08' }),
      JSON.stringify({ ...hello, clientNonce: 'xyz' }),
      JSON.stringify({ ...hello, did: 'not-a-did' }),
      '{not json',
      JSON.stringify({ ...hello, did: `did:ethr:${'a'.repeat(9000)}` }),
    ]) {
      const r = parseHandshakeMessage('hello', bad);
      assert.equal(r.ok, false, bad.slice(0, 60));
      if (!r.ok) assert.equal(r.error.code, 'ERR_HANDSHAKE_MALFORMED');
    }
  });

  it('parses success and denial results, and a denial carries only a coarse code', () => {
    const okResult = {
      type: 'result',
      v: 1,
      sessionId: 'a'.repeat(32),
      ok: true,
      credential: 'eyJ.x.y',
      expiresAt: 1,
      permissions: deviceTopicPermissions(id),
    };
    assert.ok(parseHandshakeMessage('result', JSON.stringify(okResult)).ok);
    const denied = { type: 'result', v: 1, ok: false, code: 'ERR_HANDSHAKE_DENIED' };
    assert.ok(parseHandshakeMessage('result', JSON.stringify(denied)).ok);
    const leaky = { ...denied, code: 'ERR_VC_REVOKED' };
    assert.equal(parseHandshakeMessage('result', JSON.stringify(leaky)).ok, false);
  });
});

describe('mutual OCRA over the transcript', () => {
  const key = Buffer.alloc(32, 0x42);
  const transcript: HandshakeTranscript = {
    sessionId: '0'.repeat(32),
    clientId: id,
    deviceId: id,
    did: 'did:ethr:0x7a69:0x00000000000000000000000000000000000000bb',
    clientNonce: 'c'.repeat(64),
    serverNonce: '5'.repeat(64),
    fingerprint: `0x${'f'.repeat(64)}`,
    expiresAt: 1_800_000_000_000,
  };
  const mutual = (t: HandshakeTranscript) => ({
    clientChallenge: t.clientNonce,
    serverChallenge: t.serverNonce,
    session: transcriptDigest(t),
  });

  it('server proof and device response agree when both sides hold the same transcript', () => {
    const rs = ocraServerProof(HANDSHAKE_SUITE, key, mutual(transcript));
    const rc = ocraClientResponse(HANDSHAKE_SUITE, key, mutual(transcript));
    assert.match(rs, /^\d{8}$/);
    assert.notEqual(rs, rc, 'the two directions differ (QC|QS vs QS|QC)');
    assert.ok(ocraResponsesEqual(ocraClientResponse(HANDSHAKE_SUITE, key, mutual({ ...transcript })), rc));
  });

  it('a response computed for another session, fingerprint or DID does not verify', () => {
    const rc = ocraClientResponse(HANDSHAKE_SUITE, key, mutual(transcript));
    for (const changed of [
      { ...transcript, sessionId: '1'.repeat(32) },
      { ...transcript, fingerprint: `0x${'e'.repeat(64)}` },
      { ...transcript, did: 'did:ethr:0x7a69:0x00000000000000000000000000000000000000cc' },
      { ...transcript, serverNonce: '6'.repeat(64) },
    ]) {
      assert.equal(ocraResponsesEqual(ocraClientResponse(HANDSHAKE_SUITE, key, mutual(changed)), rc), false);
    }
  });
});

describe('handshake test vector (docs/protocol.md; cross-checked with an independent Python HMAC implementation)', () => {
  it('pins the device id, fingerprint, commitment, transcript digest, server proof and device response', () => {
    const key = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
    const deviceId = deviceIdOf('0x00000000000000000000000000000000000000aa', 'SN-000123');
    assert.equal(deviceId, '0xb0e32a4463ac353493f900a2a007d351d72b53a7bc48f2c53ff1ec6ecd77f2ba');
    const fp = deviceFingerprint(chars);
    assert.ok(fp.ok);
    assert.equal(fp.value, '0x9fdefe24cfcc3702557a94af417e207e6e5f95f17b74a7ef3dcae3fa8355dbf6');
    assert.equal(
      secretCommitment(Buffer.alloc(32, 0x5a), key),
      '0xf6039849caa3f9849156f3a18d5961e3676e224d1d2ff4dc34ed5cbaab6f2b49',
    );
    const t: HandshakeTranscript = {
      sessionId: '00112233445566778899aabbccddeeff',
      clientId: deviceId,
      deviceId,
      did: 'did:ethr:0x7a69:0x00000000000000000000000000000000000000bb',
      clientNonce: 'c0'.repeat(32),
      serverNonce: '5e'.repeat(32),
      fingerprint: fp.value,
      expiresAt: 1_800_000_000_000,
    };
    const digest = transcriptDigest(t);
    assert.equal(digest.toString('hex'), 'bf7bb31d33337f9b891239b02addf1667957245d84f46da10284dae965523751');
    const m = { clientChallenge: t.clientNonce, serverChallenge: t.serverNonce, session: digest };
    assert.equal(ocraServerProof(HANDSHAKE_SUITE, key, m), '14242415');
    assert.equal(ocraClientResponse(HANDSHAKE_SUITE, key, m), '27172683');
  });
});
