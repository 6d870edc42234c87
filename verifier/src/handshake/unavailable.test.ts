/**
 * A handshake the verifier cannot decide — its chain read fails, or the chain is known to be down — is answered
 * ERR_HANDSHAKE_UNAVAILABLE with `retryAfterMs`: not DENIED, and not counted towards the device's lockout. The device
 * side is the reference agent on the embedded broker; the chain is what fails (its read throws, or `unavailable` says
 * so), nothing else is replaced.
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
import { deriveBrokerPassword, deviceIdOf, ethrDid } from '@tessera/protocol';
import type { Resolvable } from 'did-resolver';
import { Wallet } from 'ethers';
import { AedesBrokerAdapter } from '../broker/aedes.js';
import { MemoryNonceStore } from '../vc/nonce-store.js';
import { MemoryHandshakeLimiter } from './limiter.js';
import { HandshakeResponder } from './responder.js';
import { FileDeviceSecretVault } from './vault.js';

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
    responder = new HandshakeResponder({
      broker,
      readStatus: async (): Promise<DeviceChainStatus> => {
        chain.reads++;
        throw new Error('connect ECONNREFUSED 127.0.0.1:8545');
      },
      vault: new FileDeviceSecretVault(join(dir, 'secrets.json'), randomBytes(32)),
      resolver: { resolve: async () => assert.fail('not reached') } as unknown as Resolvable,
      challenges: new MemoryNonceStore(),
      limiter: new MemoryHandshakeLimiter(),
      issuer: { did: ethrDid(31337, Wallet.createRandom().address), privateKey: Wallet.createRandom().privateKey },
      chainId: 31337,
      unavailable: () => (chain.down ? 'the chain does not answer' : undefined),
      unavailableRetryMs: 50,
    });
    await responder.start();
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const agent = async () => {
    const key = Wallet.createRandom();
    const secret = randomBytes(32);
    const deviceId = deviceIdOf('unavailable', randomBytes(8).toString('hex'));
    await broker.enrol({ deviceId, password: deriveBrokerPassword(secret) });
    const a = new DeviceAgent({
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
