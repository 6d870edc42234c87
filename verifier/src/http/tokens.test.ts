import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { Secp256k1Worker } from '@tessera/runtime';
import { Wallet } from 'ethers';
import { AccessTokens } from './tokens.js';

const wallet = new Wallet(Wallet.createRandom().privateKey);
const did = `did:ethr:0x7a69:${wallet.address.toLowerCase()}`;
const scopes = [{ resource: '/energy/meters/DE0001/orders', action: 'POST' }];
const holder = 'did:ethr:0x7a69:0x00000000000000000000000000000000000000a1';
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;

describe('access tokens', () => {
  it('signs ES256K with the DID key and checks it with a verify-only instance built from the public key', () => {
    const signer = new AccessTokens({ did, privateKey: wallet.privateKey });
    assert.equal(signer.alg, 'ES256K');
    const { token } = signer.issue(holder, scopes, []);
    assert.deepEqual(decode(token.split('.')[0]!), { alg: 'ES256K', typ: 'at+jwt', kid: `${did}#controller` });
    const checker = new AccessTokens({ did, publicKey: wallet.signingKey.compressedPublicKey });
    const r = checker.verify(token);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value.holder, holder);
    assert.deepEqual(r.value.scopes, scopes);
  });

  it('always produces low-s ES256K signatures', () => {
    const signer = new AccessTokens({ did, privateKey: wallet.privateKey });
    const halfN = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
    for (let i = 0; i < 40; i++) {
      const sig = Buffer.from(signer.issue(holder, scopes, []).token.split('.')[2]!, 'base64url');
      assert.ok(BigInt(`0x${sig.subarray(32).toString('hex')}`) <= halfN);
    }
  });

  it('ES256K through libsecp256k1 and through OpenSSL: each checks the other, both refuse a tampered token', () => {
    const fast = new AccessTokens({ did, privateKey: wallet.privateKey });
    const openssl = new AccessTokens({ did, privateKey: wallet.privateKey, engine: 'openssl' });
    const fastChecker = new AccessTokens({ did, publicKey: wallet.signingKey.compressedPublicKey });
    const opensslChecker = new AccessTokens({ did, publicKey: wallet.signingKey.publicKey, engine: 'openssl' });
    for (const [signer, checker] of [
      [fast, opensslChecker],
      [openssl, fastChecker],
    ] as const) {
      const { token } = signer.issue(holder, scopes, []);
      assert.ok(checker.verify(token).ok);
      const [h, p, sig] = token.split('.') as [string, string, string];
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...decode(p), sub: did })).toString('base64url')}.${sig}`;
      assert.equal(fastChecker.verify(forged).ok, false);
      assert.equal(opensslChecker.verify(forged).ok, false);
    }
  });

  it('issueAsync signs on the libsecp256k1 worker thread: tokens that check like the synchronous ones', async (t) => {
    const worker = Secp256k1Worker.start();
    if (!worker) return t.skip('the libsecp256k1 addon does not load here');
    try {
      const signer = new AccessTokens({ did, privateKey: wallet.privateKey, worker });
      const checkers = [
        new AccessTokens({ did, publicKey: wallet.signingKey.compressedPublicKey }),
        new AccessTokens({ did, publicKey: wallet.signingKey.publicKey, engine: 'openssl' }),
      ];
      const issued = await Promise.all(Array.from({ length: 50 }, () => signer.issueAsync(holder, scopes, [])));
      assert.equal(new Set(issued.map((i) => i.grant.tokenId)).size, 50);
      for (const { token, grant } of issued) {
        for (const checker of checkers) assert.deepEqual(checker.verify(token), { ok: true, value: grant });
        const [h, p, sig] = token.split('.') as [string, string, string];
        const forged = `${h}.${Buffer.from(JSON.stringify({ ...decode(p), sub: did })).toString('base64url')}.${sig}`;
        for (const checker of checkers) assert.equal(checker.verify(forged).ok, false);
      }
    } finally {
      await worker.close();
    }
  });

  it('signs ES256 with a dedicated P-256 key, checked from its published JWK', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signer = new AccessTokens({ did, privateKey });
    assert.equal(signer.alg, 'ES256');
    const { token } = signer.issue(holder, scopes, []);
    const checker = new AccessTokens({ did, publicKey: signer.publicJwk });
    assert.ok(checker.verify(token).ok);
    // The algorithm is the verifier's, never the token's: the ES256K verifier refuses it, and vice versa.
    assert.equal(new AccessTokens({ did, privateKey: wallet.privateKey }).verify(token).ok, false);
    const es256k = new AccessTokens({ did, privateKey: wallet.privateKey }).issue(holder, scopes, []).token;
    const r = checker.verify(es256k);
    assert.ok(!r.ok && r.error.code === 'ERR_AUTH_INVALID');
  });

  it('never outlives the credentials it was granted on', () => {
    const now = Date.now();
    const tokens = new AccessTokens({ did, privateKey: wallet.privateKey, ttlSeconds: 300, now: () => now });
    const vc = (expiresAt?: number) => ({
      types: ['EnergyProsumerCredential'],
      issuer: did,
      claims: {},
      status: [],
      ...(expiresAt ? { expiresAt } : {}),
    });
    const soon = Math.floor(now / 1000) + 42;
    assert.equal(tokens.issue(holder, scopes, [vc(), vc(soon)]).grant.expiresAt, soon);
    assert.equal(tokens.issue(holder, scopes, [vc()]).grant.expiresAt, Math.floor(now / 1000) + 300);
  });

  it('refuses a key that does not control the DID', () => {
    assert.throws(
      () => new AccessTokens({ did, privateKey: Wallet.createRandom().privateKey }),
      (e: Error & { code?: string }) => e.code === 'ERR_CONFIG_INVALID',
    );
  });

  it('refuses an expired token by its own clock, and a token for another issuer', () => {
    let now = Date.now();
    const tokens = new AccessTokens({ did, privateKey: wallet.privateKey, ttlSeconds: 60, now: () => now });
    const { token } = tokens.issue(holder, scopes, []);
    assert.ok(tokens.verify(token).ok);
    now += 60_000;
    const r = tokens.verify(token);
    assert.ok(!r.ok && r.error.code === 'ERR_AUTH_EXPIRED');
    const other = new AccessTokens({ did: holder, publicKey: wallet.signingKey.publicKey });
    const r2 = other.verify(new AccessTokens({ did, privateKey: wallet.privateKey }).issue(holder, scopes, []).token);
    assert.ok(!r2.ok && r2.error.code === 'ERR_AUTH_INVALID');
  });
});
