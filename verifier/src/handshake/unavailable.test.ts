/**
 * A handshake the verifier cannot decide — its chain read fails, or the chain is known to be down — is answered
 * ERR_HANDSHAKE_UNAVAILABLE with `retryAfterMs`: not DENIED, and not counted towards the device's lockout. The device
 * side is the reference agent on the embedded broker; the chain is what fails (its read throws, or `unavailable` says
 * so), nothing else is replaced. And the agent's side of retrying: its wait to try again ends with its connection (the
 * next connection runs the only handshake loop), and a late answer meant for an earlier attempt is not taken for the
 * handshake under way (each answer to a response names its session).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeviceChainStatus } from '@tessera/contracts';
import { DeviceAgent } from '@tessera/device-agent';
import { deriveBrokerPassword, deviceIdOf, ethrDid, secretCommitment, topics } from '@tessera/protocol';
import type { Resolvable } from 'did-resolver';
import { Wallet } from 'ethers';
import { AedesBrokerAdapter } from '../broker/aedes.js';
import { MemoryNonceStore } from '../vc/nonce-store.js';
import { MemoryHandshakeLimiter } from './limiter.js';
import { HandshakeResponder, type HandshakeResponderOptions } from './responder.js';
import { FileDeviceSecretVault } from './vault.js';

/**
 * The real responder on `broker` with a fresh challenge store and limiter; the chain (`readStatus`, `unavailable`) and
 * the retry hint are each test's. DID resolution is never reached in these tests.
 */
async function startResponder(
  broker: AedesBrokerAdapter,
  o: Pick<HandshakeResponderOptions, 'readStatus' | 'vault' | 'unavailable' | 'unavailableRetryMs'>,
): Promise<HandshakeResponder> {
  const responder = new HandshakeResponder({
    broker,
    ...o,
    resolver: { resolve: async () => assert.fail('not reached') } as unknown as Resolvable,
    challenges: new MemoryNonceStore(),
    limiter: new MemoryHandshakeLimiter(),
    issuer: { did: ethrDid(31337, Wallet.createRandom().address), privateKey: Wallet.createRandom().privateKey },
    chainId: 31337,
  });
  await responder.start();
  return responder;
}

/** The reference agent of a new device enrolled on `broker` (a fresh key and secret), not started; quick retries. */
async function enrolledAgent(broker: AedesBrokerAdapter, name: string): Promise<DeviceAgent> {
  const key = Wallet.createRandom();
  const secret = randomBytes(32);
  const deviceId = deviceIdOf(name, randomBytes(8).toString('hex'));
  await broker.enrol({ deviceId, password: deriveBrokerPassword(secret) });
  return new DeviceAgent({
    identity: {
      deviceId,
      did: ethrDid(31337, key.address),
      secret,
      privateKey: key.privateKey,
      fingerprint: `0x${'11'.repeat(32)}`,
    },
    brokerUrl: broker.url,
    backoff: { initialMs: 20, maxMs: 100 },
  });
}

describe('handshake while the verifier cannot decide', () => {
  let broker: AedesBrokerAdapter;
  let dir: string;
  let chain: { down: boolean; reads: number };
  let responder: HandshakeResponder;
  const agents: DeviceAgent[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-hs-unavailable-'));
    broker = new AedesBrokerAdapter({ port: 0 });
    await broker.start();
    chain = { down: false, reads: 0 };
    responder = await startResponder(broker, {
      readStatus: async (): Promise<DeviceChainStatus> => {
        chain.reads++;
        throw new Error('connect ECONNREFUSED 127.0.0.1:8545');
      },
      vault: new FileDeviceSecretVault(join(dir, 'secrets.json'), randomBytes(32)),
      unavailable: () => (chain.down ? 'the chain does not answer' : undefined),
      unavailableRetryMs: 50,
    });
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const agent = async () => {
    const a = await enrolledAgent(broker, 'unavailable');
    agents.push(a);
    const connected = once(a, 'connected');
    a.start();
    await connected;
    return a;
  };

  it('a chain read that fails: ERR_HANDSHAKE_UNAVAILABLE, never DENIED, never a lockout', async () => {
    const before = { reads: chain.reads, denied: responder.stats.denied };
    const a = await agent();
    const denied: unknown[] = [];
    a.on('denied', (d) => denied.push(d));
    const answers: { retryAfterMs?: number }[] = [];
    a.on('unavailable', (u: { retryAfterMs?: number }) => answers.push(u));
    // eight in a row: as refusals, five would have started a lockout (ERR_HANDSHAKE_LOCKED)
    while (answers.length < 8) await once(a, 'unavailable');
    for (const u of answers) assert.equal(u.retryAfterMs, 50, 'the answer says when to retry');
    assert.ok(chain.reads - before.reads >= 8, 'each attempt asked the chain');
    assert.deepEqual(denied, [], 'the device was never told DENIED or LOCKED');
    assert.equal(responder.stats.denied, before.denied, 'nothing counted as a refusal');
    assert.equal(a.session, undefined);
  });

  it('a chain known to be down: answered at once, without reading it; the agent keeps retrying with backoff', async () => {
    chain.down = true;
    const before = chain.reads;
    const a = await agent();
    const waits: number[] = [];
    a.on('unavailable', (u: { nextAttemptMs: number }) => waits.push(u.nextAttemptMs));
    while (waits.length < 3) await once(a, 'unavailable');
    assert.equal(chain.reads, before, 'nothing was read from a chain known to be down');
    for (const w of waits) assert.ok(w >= 50, `waits at least retryAfterMs: ${waits}`);
    assert.equal(a.session, undefined);
    chain.down = false;
  });
});

describe('the agent waiting to retry when its connection drops', () => {
  let broker: AedesBrokerAdapter;
  let dir: string;
  let agent: DeviceAgent | undefined;
  const RETRY_MS = 3_000;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-hs-loop-'));
    broker = new AedesBrokerAdapter({ port: 0 });
    await broker.start();
    await startResponder(broker, {
      readStatus: async () => assert.fail('the chain is known to be down: not read'),
      vault: new FileDeviceSecretVault(join(dir, 'secrets.json'), randomBytes(32)),
      unavailable: () => 'the chain does not answer',
      unavailableRetryMs: RETRY_MS,
    });
  });

  after(async () => {
    await agent?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the wait ends with the connection: the next connection runs the only handshake loop', async () => {
    const a = await enrolledAgent(broker, 'loop');
    agent = a;
    const attempts: number[] = [];
    a.on('unavailable', () => attempts.push(Date.now()));
    a.start();
    await once(a, 'unavailable'); // the first connection's loop now waits RETRY_MS before its next hello
    // The network drops the connection; the agent reconnects within 100 ms and its new loop says hello at once.
    const reconnected = once(a, 'connected');
    (a as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
    await reconnected;
    const from = Date.now();
    await new Promise((r) => setTimeout(r, RETRY_MS * 1.5));
    // One loop: a hello at once and one RETRY_MS later. The first connection's loop, had it outlived its connection,
    // would have said hello on the new one too when its wait ended (and each loop would cancel the other's handshake).
    const since = attempts.filter((t) => t >= from);
    assert.equal(since.length, 2, `attempts on the new connection at ${since.map((t) => t - from).join(', ')} ms`);
  });
});

describe('an answer meant for an earlier attempt', () => {
  let broker: AedesBrokerAdapter;
  let dir: string;
  let agent: DeviceAgent | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-hs-late-'));
    broker = new AedesBrokerAdapter({ port: 0 });
    await broker.start();
  });

  after(async () => {
    await agent?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is not taken for the handshake under way: the device takes only the answer naming its session', async () => {
    const key = Wallet.createRandom();
    const secret = randomBytes(32);
    const salt = randomBytes(32);
    const deviceId = deviceIdOf('late', randomBytes(8).toString('hex'));
    const fingerprint = `0x${'22'.repeat(32)}`;
    const vault = new FileDeviceSecretVault(join(dir, 'secrets.json'), randomBytes(32));
    await vault.put(deviceId, secret, salt);
    // The chain answers the hello; the read at the response waits until the test lets it fail (then: UNAVAILABLE).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reads = 0;
    let responding!: () => void;
    const atResponse = new Promise<void>((r) => (responding = r));
    await startResponder(broker, {
      readStatus: async (): Promise<DeviceChainStatus> => {
        if (++reads === 1)
          return { state: 'Active', identity: key.address, fingerprint, commitment: secretCommitment(salt, secret) };
        responding();
        await held;
        throw new Error('connect ECONNREFUSED 127.0.0.1:8545');
      },
      vault,
      unavailableRetryMs: 60_000,
    });
    await broker.enrol({ deviceId, password: deriveBrokerPassword(secret) });
    const a = new DeviceAgent({
      identity: { deviceId, did: ethrDid(31337, key.address), secret, privateKey: key.privateKey, fingerprint },
      brokerUrl: broker.url,
    });
    agent = a;
    const denied: unknown[] = [];
    a.on('denied', (d) => denied.push(d));
    a.start();
    await atResponse; // the device has answered its challenge and waits for the result
    // Late answers to earlier attempts, on the result topic, before this handshake's own answer: one refusing a hello
    // (no session), one refusing a response of another session.
    const result = topics.handshake(deviceId, 'result');
    await broker.publish(result, JSON.stringify({ type: 'result', v: 1, ok: false, code: 'ERR_HANDSHAKE_DENIED' }));
    await broker.publish(
      result,
      JSON.stringify({ type: 'result', v: 1, sessionId: 'ab'.repeat(16), ok: false, code: 'ERR_HANDSHAKE_LOCKED' }),
    );
    const own = once(a, 'unavailable');
    release();
    const [u] = (await own) as [{ retryAfterMs?: number }];
    assert.equal(u.retryAfterMs, 60_000, "this handshake's own answer, naming its session");
    assert.deepEqual(denied, [], 'neither late answer was taken for this handshake');
  });
});
