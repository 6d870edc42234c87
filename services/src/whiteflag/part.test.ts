import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ErrorShape, topics } from '@tessera/protocol';
import { WHITEFLAG_EXAMPLES } from '@tessera/protocol/whiteflag';
import { Signature } from 'ethers';
import type { MqttClient } from 'mqtt';
import {
  AREA_KEY,
  type Holder,
  holder,
  startWhiteflagApp,
  startWhiteflagFixture,
  type TestDevice,
  type WhiteflagApp,
  type WhiteflagFixture,
} from './testing.js';

/**
 * The Whiteflag part behind the real verifier (policies of verifier/policies/default.json, access tokens) and an
 * embedded broker, on anvil and SQLite: operators over HTTP, devices over MQTT, both gated by their credentials.
 */
let fx: WhiteflagFixture;
let app: WhiteflagApp;
const outcomes: { deviceId: string | undefined; ok: boolean; txHash?: string | null; error?: ErrorShape }[] = [];
let wake: (() => void) | undefined;
const clients: MqttClient[] = [];
const operator = holder('Grid ops Marseille');
let operatorVc: string;

async function nextOutcome() {
  while (outcomes.length === 0) await new Promise<void>((r) => (wake = r));
  return outcomes.shift()!;
}

async function call(method: string, path: string, token: string | undefined, body?: unknown) {
  const r = await fetch(`${app.base}/services/whiteflag${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> & { error?: ErrorShape } };
}

/** The operator authorises its sending key the way `wallet delegate` does: sign the offered ERC-1056 digest. */
async function authoriseSendingKey(h: Holder, vc: string) {
  const t = await app.token(h, [vc], '/whiteflag/originator/sending-key', 'POST');
  const offer = await call('POST', '/whiteflag/originator/sending-key', t, {});
  assert.equal(offer.status, 200, JSON.stringify(offer.body));
  const signature = Signature.from(h.wallet.signingKey.sign(offer.body['digest'] as string)).serialized;
  const confirmed = await call('POST', '/whiteflag/originator/sending-key/confirm', t, { signature });
  assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
  return confirmed.body as { account: string; statement: string };
}

async function received(txHash: string, token: string) {
  for (let i = 0; i < 200; i++) {
    const r = await call('GET', `/whiteflag/messages/${txHash}`, token);
    if (r.status === 200 && r.body['state'] !== 'encrypted') return r.body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${txHash} not received`);
}

async function connect(device: TestDevice) {
  const c = await app.connect(device);
  clients.push(c);
  return c;
}

before(async () => {
  fx = await startWhiteflagFixture();
  app = await startWhiteflagApp(fx, {
    onSignal: (deviceId, o) => {
      outcomes.push(o.ok ? { deviceId, ok: true, txHash: o.txHash } : { deviceId, ok: false, error: o.error });
      wake?.();
    },
  });
  operatorVc = await app.credential(operator, 'OperatorCredential', { name: operator.name });
});
after(async () => {
  for (const c of clients) c.end(true);
  await app?.close();
  await fx?.close();
});

describe('Whiteflag over HTTP, gated by the operator’s credential', () => {
  it('authorises the operator’s sending key, sends an infrastructure notice, and shows it as the operator’s', async () => {
    const { account, statement } = await authoriseSendingKey(operator, operatorVc);
    const st = (await (await fetch(statement)).json()) as Record<string, string>;
    assert.deepEqual(Object.keys(st).sort(), ['payload', 'protected', 'signature']);
    const payload = JSON.parse(Buffer.from(st['payload']!, 'base64url').toString('utf8'));
    assert.equal(payload.addr, account);
    assert.equal(payload.did, operator.did.toLowerCase());
    assert.equal(payload.orgname, operator.name);

    const t = await app.token(operator, [operatorVc], '/whiteflag/messages/I', 'POST');
    const sent = await call('POST', '/whiteflag/messages/I', t, {
      requestId: 'notice-0001',
      body: WHITEFLAG_EXAMPLES.I.MessageBody,
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    assert.equal(sent.body['originator'], operator.did.toLowerCase());
    const again = await call('POST', '/whiteflag/messages/I', t, {
      requestId: 'notice-0001',
      body: WHITEFLAG_EXAMPLES.I.MessageBody,
    });
    assert.equal(again.body['txHash'], sent.body['txHash'], 'the same request id sends once');

    const read = await app.token(operator, [operatorVc], '/whiteflag/messages', 'GET');
    // the holder's own send, by its request id: its outbox state and hashes
    const state = await call('GET', '/whiteflag/sent/notice-0001', read);
    assert.equal(state.status, 200, JSON.stringify(state.body));
    assert.deepEqual(state.body, {
      id: `${account}:notice-0001`,
      account,
      status: 'mined',
      txHash: sent.body['txHash'],
      ivTxHash: null,
    });
    const m = await received(sent.body['txHash'] as string, read);
    assert.equal(m['authentic'], true);
    assert.deepEqual(m['originator'], {
      address: account,
      did: operator.did.toLowerCase(),
      deviceId: null,
      authentication: 'authenticated',
      method: '1',
      authenticationMessage: (m['originator'] as { authenticationMessage: string }).authenticationMessage,
    });
    assert.equal(m['notation'], 'I21(0)');
    const list = await call('GET', '/whiteflag/messages?code=I&auth=authenticated', read);
    assert.ok((list.body['messages'] as { txHash: string }[]).some((x) => x.txHash === sent.body['txHash']));
  });

  it('describes itself in OpenAPI 3.1, the send body generated from the schemas that validate it', async () => {
    const doc = (await (await fetch(`${app.base}/services/whiteflag/whiteflag/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    assert.match(doc.openapi, /^3\.1/);
    assert.ok(doc.paths['/whiteflag/messages/{messageCode}']);
    assert.deepEqual(Object.keys(doc.components.schemas['SendBody']!.properties!).sort(), [
      'body',
      'duress',
      'encryption',
      'reference',
      'requestId',
    ]);
  });

  it('refuses what the policies do not grant, and bad bodies with their codes', async () => {
    // no policy lets an operator send a protective sign: no token for it
    const req = await fetch(`${app.base}/verifier/presentation-requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resource: '/whiteflag/messages/P', action: 'POST' }),
    });
    assert.equal(req.status, 403, 'nothing grants P');
    assert.equal(((await req.json()) as { error: ErrorShape }).error.code, 'ERR_POLICY_DENIED');
    const t = await app.token(operator, [operatorVc], '/whiteflag/messages/I', 'POST');
    const code = async (path: string, body: unknown, token = t) =>
      (await call('POST', path, token, body)).body.error?.code;
    assert.equal(await code('/whiteflag/messages/D', { requestId: 'x-00000001', body: {} }), 'ERR_FORBIDDEN');
    assert.equal(await code('/whiteflag/messages/I', { requestId: 'x-00000001', body: {} }, ''), 'ERR_AUTH_REQUIRED');
    assert.equal(await code('/whiteflag/messages/I', { requestId: 'short', body: {} }), 'ERR_VALIDATION');
    assert.equal(await code('/whiteflag/messages/I', '{"requestId":'), 'ERR_JSON_MALFORMED');
    assert.equal(
      await code('/whiteflag/messages/I', {
        requestId: 'x-00000002',
        body: { ...WHITEFLAG_EXAMPLES.I.MessageBody, ObjectLatitude: '+95.00000' },
      }),
      'ERR_WHITEFLAG_FIELD_INVALID',
    );
    assert.equal(
      await code('/whiteflag/messages/I', {
        requestId: 'x-00000003',
        body: WHITEFLAG_EXAMPLES.I.MessageBody,
        encryption: { method: '2', key: 'no-such-key' },
      }),
      'ERR_WHITEFLAG_KEY_UNKNOWN',
    );
    // an operator whose sending key was never authorised
    const newcomer = holder('New operator');
    const vc = await app.credential(newcomer, 'OperatorCredential', { name: newcomer.name });
    const nt = await app.token(newcomer, [vc], '/whiteflag/messages/I', 'POST');
    assert.equal(
      await code('/whiteflag/messages/I', { requestId: 'x-00000004', body: WHITEFLAG_EXAMPLES.I.MessageBody }, nt),
      'ERR_WHITEFLAG_ORIGINATOR_NOT_READY',
    );
  });
});

describe('Whiteflag over MQTT, gated by the device’s session credential', () => {
  let sender: TestDevice;
  let neighbour: TestDevice;
  let senderSession: string;
  let inbox: { topic: string; payload: Record<string, unknown> }[];

  before(async () => {
    sender = await fx.device();
    neighbour = await fx.device();
    senderSession = await app.session(sender);
    await app.session(neighbour);
    // the neighbour's owner sets its area: 2 km around the substation the signals are about
    const owner = holder('Owner');
    const vc = await app.credential(owner, 'DeviceOwnerCredential', { device: neighbour.did });
    const path = `/whiteflag/devices/${neighbour.deviceId}/area`;
    const t = await app.token(owner, [vc], path, 'PUT');
    const r = await call('PUT', path, t, { latitude: 43.2965, longitude: 5.3698, radiusM: 2000 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body).sort(), ['deviceId', 'did', 'latitude', 'longitude', 'radiusM', 'updatedAt']);
    const read = await call('GET', path, await app.token(owner, [vc], path, 'GET'));
    assert.deepEqual(read, r, 'the area as it was set');
    // someone else's DeviceOwnerCredential does not open this device
    const stranger = holder('Stranger');
    const other = await app.credential(stranger, 'DeviceOwnerCredential', { device: sender.did });
    const st = await app.token(stranger, [other], path, 'PUT');
    const refused = await call('PUT', path, st, { latitude: 0, longitude: 0, radiusM: 10 });
    assert.equal(refused.body.error?.code, 'ERR_DEVICE_NOT_OWNER');

    inbox = [];
    const c = await connect(neighbour);
    c.on('message', (topic, payload) => inbox.push({ topic, payload: JSON.parse(payload.toString('utf8')) }));
    await new Promise<void>((resolve, reject) =>
      c.subscribe(topics.whiteflagInbox(neighbour.deviceId), { qos: 1 }, (e) => (e ? reject(e) : resolve())),
    );
  });

  const publish = (c: MqttClient, topic: string, payload: unknown) =>
    new Promise<void>((resolve) => c.publish(topic, JSON.stringify(payload), { qos: 1 }, () => resolve()));

  it('a device’s encrypted status signal is sent from its account, authenticated to it, and reaches its area', async () => {
    const c = await connect(sender);
    await publish(c, topics.whiteflagSignal(sender.deviceId, 'S'), {
      credential: senderSession,
      requestId: 'status-0001',
      body: WHITEFLAG_EXAMPLES.S.MessageBody,
      encryption: { method: '2', key: AREA_KEY.name },
    });
    const o = await nextOutcome();
    assert.ok(o.ok, JSON.stringify(o.error));
    const read = await app.token(operator, [operatorVc], '/whiteflag/messages', 'GET');
    const m = await received(o.txHash!, read);
    assert.equal(m['authentic'], true);
    assert.equal(m['decryptedWith'], `psk:${AREA_KEY.name}`);
    const who = m['originator'] as Record<string, unknown>;
    assert.equal(who['deviceId'], sender.deviceId);
    assert.equal(who['did'], sender.did);
    assert.equal(who['method'], '2');
    for (let i = 0; i < 100 && !inbox.some((x) => x.payload['txHash'] === o.txHash); i++)
      await new Promise((r) => setTimeout(r, 50));
    const delivered = inbox.find((x) => x.payload['txHash'] === o.txHash);
    assert.ok(delivered, 'the neighbour received the signal of its area');
    assert.equal((delivered.payload['originator'] as Record<string, unknown>)['deviceId'], sender.deviceId);
  });

  it('refuses signals the policies do not grant, without a valid session, or from another device', async () => {
    const c = await connect(sender);
    // a device may not send an infrastructure sign
    await publish(c, topics.whiteflagSignal(sender.deviceId, 'I'), {
      credential: senderSession,
      requestId: 'infra-0001',
      body: WHITEFLAG_EXAMPLES.I.MessageBody,
    });
    assert.equal((await nextOutcome()).error?.code, 'ERR_POLICY_DENIED');
    // the neighbour's session presented on the sender's topic: the policy wants the session of the topic's device
    const neighbourSession = await app.session(neighbour);
    await publish(c, topics.whiteflagSignal(sender.deviceId, 'E'), {
      credential: neighbourSession,
      requestId: 'emergency-0001',
      body: WHITEFLAG_EXAMPLES.E.MessageBody,
    });
    assert.equal((await nextOutcome()).error?.code, 'ERR_POLICY_DENIED');
    // a session credential signed by someone who is not the verifier
    const forged = await app.credential({ did: sender.did }, 'DeviceSessionCredential', {
      sessionId: 'x',
      clientId: sender.deviceId,
      deviceId: sender.deviceId,
    });
    await publish(c, topics.whiteflagSignal(sender.deviceId, 'E'), {
      credential: forged,
      requestId: 'emergency-0002',
      body: WHITEFLAG_EXAMPLES.E.MessageBody,
    });
    assert.equal((await nextOutcome()).error?.code, 'ERR_VC_UNTRUSTED_ISSUER');
    await publish(c, topics.whiteflagSignal(sender.deviceId, 'E'), { requestId: 'emergency-0003' });
    assert.equal((await nextOutcome()).error?.code, 'ERR_VALIDATION');
    await new Promise<void>((resolve) =>
      c.publish(topics.whiteflagSignal(sender.deviceId, 'E'), 'not json', { qos: 1 }, () => resolve()),
    );
    assert.equal((await nextOutcome()).error?.code, 'ERR_JSON_MALFORMED');
    await publish(c, topics.whiteflagSignal(sender.deviceId, 'E'), {
      credential: senderSession,
      requestId: 'emergency-0004',
      body: { ...WHITEFLAG_EXAMPLES.E.MessageBody, Duration: 'P00D25H00M' },
    });
    assert.equal((await nextOutcome()).error?.code, 'ERR_WHITEFLAG_FIELD_INVALID');
  });
});
