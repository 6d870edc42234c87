import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { statusListEntry } from '@tessera/protocol';
import { ES256KSigner } from 'did-jwt';
import { createVerifiableCredentialJwt } from 'did-jwt-vc';
import { Wallet } from 'ethers';
import type { Requirement } from '@tessera/protocol';
import { mayMeet, tokenFor } from './flows.js';
import { parseOffer } from './offer.js';
import { describeCredential, TesseraWallet, WALLET_FILE, WALLET_KEY_FILE } from './store.js';

/** A throwaway did:ethr with its signer (the credentials here are never checked against a chain). */
function testActor() {
  const wallet = Wallet.createRandom();
  return {
    wallet,
    did: `did:ethr:0x7a69:${wallet.address.toLowerCase()}`,
    signer: ES256KSigner(Buffer.from(wallet.privateKey.slice(2), 'hex')),
  };
}

const root = mkdtempSync(join(tmpdir(), 'tessera-wallet-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `w${++n}`);
const CODE = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-ab';

function opened(dir: string, passphrase?: string) {
  const r = TesseraWallet.open(dir, passphrase === undefined ? {} : { passphrase });
  assert.ok(r.ok, JSON.stringify(r));
  return r.value;
}

async function credentialFor(subject: string, claims: Record<string, unknown>, expSeconds?: number) {
  const issuer = testActor();
  return createVerifiableCredentialJwt(
    {
      sub: subject,
      jti: `urn:uuid:${crypto.randomUUID()}`,
      ...(expSeconds === undefined ? {} : { exp: expSeconds }),
      vc: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiableCredential', 'EnergyProsumerCredential'],
        credentialSubject: claims,
        credentialStatus: [statusListEntry('https://issuer.test/status-lists/1/revocation', 7, 'revocation')],
      } as never,
    },
    { did: issuer.did, signer: issuer.signer, alg: 'ES256K' },
  );
}

describe('wallet store', () => {
  it('creates a did:ethr key sealed in a 0600 wallet file and opens it again with the same DID', () => {
    const dir = freshDir();
    const w = TesseraWallet.init(dir, { chainId: 31337 });
    assert.ok(w.ok);
    assert.match(w.value.did, /^did:ethr:0x7a69:0x[0-9a-f]{40}$/);
    assert.equal(statSync(join(dir, WALLET_FILE)).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, WALLET_KEY_FILE)).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    // the private key is not in the file in the clear
    const file = readFileSync(join(dir, WALLET_FILE), 'utf8');
    assert.doesNotMatch(file, /privateKey|"0x[0-9a-f]{64}"/);
    assert.equal(opened(dir).did, w.value.did);
  });

  it('refuses to overwrite a wallet (ERR_WALLET_EXISTS) and reports a missing one (ERR_WALLET_NOT_FOUND)', () => {
    const dir = freshDir();
    assert.ok(TesseraWallet.init(dir, { chainId: 1 }).ok);
    const again = TesseraWallet.init(dir, { chainId: 1 });
    assert.equal(!again.ok && again.error.code, 'ERR_WALLET_EXISTS');
    const none = TesseraWallet.open(freshDir());
    assert.equal(!none.ok && none.error.code, 'ERR_WALLET_NOT_FOUND');
  });

  it('with a passphrase: no key file, wrong or missing passphrase is ERR_WALLET_LOCKED', () => {
    const dir = freshDir();
    const w = TesseraWallet.init(dir, { chainId: 31337, passphrase: 'correct horse' });
    assert.ok(w.ok);
    assert.throws(() => statSync(join(dir, WALLET_KEY_FILE)));
    assert.equal(opened(dir, 'correct horse').did, w.value.did);
    for (const passphrase of ['wrong horse', undefined]) {
      const r = TesseraWallet.open(dir, passphrase === undefined ? {} : { passphrase });
      assert.equal(!r.ok && r.error.code, 'ERR_WALLET_LOCKED');
    }
  });

  it('refuses a wallet readable by others (ERR_WALLET_INSECURE), a changed key file (ERR_WALLET_LOCKED), an edited file (ERR_WALLET_MALFORMED)', () => {
    const dir = freshDir();
    assert.ok(TesseraWallet.init(dir, { chainId: 31337 }).ok);
    chmodSync(join(dir, WALLET_FILE), 0o644);
    const insecure = TesseraWallet.open(dir);
    assert.equal(!insecure.ok && insecure.error.code, 'ERR_WALLET_INSECURE');
    chmodSync(join(dir, WALLET_FILE), 0o600);

    const key = readFileSync(join(dir, WALLET_KEY_FILE), 'utf8');
    writeFileSync(join(dir, WALLET_KEY_FILE), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    const locked = TesseraWallet.open(dir);
    assert.equal(!locked.ok && locked.error.code, 'ERR_WALLET_LOCKED');
    writeFileSync(join(dir, WALLET_KEY_FILE), key, { mode: 0o600 });

    // another DID written over the sealed key's: the AAD no longer matches
    const data = JSON.parse(readFileSync(join(dir, WALLET_FILE), 'utf8'));
    writeFileSync(
      join(dir, WALLET_FILE),
      JSON.stringify({ ...data, did: 'did:ethr:0x7a69:0x1111111111111111111111111111111111111111' }),
      { mode: 0o600 },
    );
    const swapped = TesseraWallet.open(dir);
    assert.equal(!swapped.ok && swapped.error.code, 'ERR_WALLET_LOCKED');
    writeFileSync(join(dir, WALLET_FILE), '{"format":"other"}', { mode: 0o600 });
    const malformed = TesseraWallet.open(dir);
    assert.equal(!malformed.ok && malformed.error.code, 'ERR_WALLET_MALFORMED');
  });

  it('keeps credentials for its own DID only, across reopening', async () => {
    const dir = freshDir();
    const w = TesseraWallet.init(dir, { chainId: 31337 });
    assert.ok(w.ok);
    const mine = await credentialFor(w.value.did, { meterId: 'DE-1', role: 'consumer' });
    const held = w.value.addCredential(mine);
    assert.ok(held.ok);
    assert.equal(held.value.type, 'EnergyProsumerCredential');
    assert.deepEqual(held.value.claims, { meterId: 'DE-1', role: 'consumer' });
    assert.equal(held.value.status.length, 1);
    const theirs = w.value.addCredential(await credentialFor(testActor().did, { meterId: 'DE-2', role: 'consumer' }));
    assert.equal(!theirs.ok && theirs.error.code, 'ERR_VC_SUBJECT_MISMATCH');
    const junk = w.value.addCredential('a.b');
    assert.equal(!junk.ok && junk.error.code, 'ERR_VC_MALFORMED');
    assert.deepEqual(
      opened(dir).credentials.map((c) => c.jwt),
      [mine],
    );
  });
});

describe('offer parsing', () => {
  const issuer = 'http://127.0.0.1:8080/issuer';
  const expected = { issuer, redeemUrl: `${issuer}/offers/redeem`, code: CODE };

  it('reads the redeem URL, the issuer offer JSON, an openid-credential-offer URI and a code with --issuer', () => {
    const forms = [
      `${issuer}/offers/redeem?code=${CODE}`,
      JSON.stringify({ code: CODE, credentialId: 'x', expiresAt: 'y', redeemUrl: `${issuer}/offers/redeem` }),
      `openid-credential-offer://?credential_offer=${encodeURIComponent(
        JSON.stringify({
          credential_issuer: issuer,
          credential_configuration_ids: ['EnergyProsumerCredential'],
          grants: { 'urn:ietf:params:oauth:grant-type:pre-authorized_code': { 'pre-authorized_code': CODE } },
        }),
      )}`,
    ];
    for (const f of forms) assert.deepEqual(parseOffer(f), { ok: true, value: expected }, f);
    assert.deepEqual(parseOffer(CODE, `${issuer}/`), { ok: true, value: expected });
  });

  it('refuses malformed offers with ERR_WALLET_OFFER_MALFORMED', () => {
    for (const bad of [
      '',
      'hello',
      `${issuer}/offers/redeem`,
      `${issuer}/offers/redeem?code=short`,
      `ftp://x/offers/redeem?code=${CODE}`,
      '{"code":1}',
      '{not json',
      'openid-credential-offer://?credential_offer=%7B%7D',
      CODE, // no issuer
    ]) {
      const r = parseOffer(bad);
      assert.equal(!r.ok && r.error.code, 'ERR_WALLET_OFFER_MALFORMED', bad);
    }
  });
});

describe('choosing what to present', () => {
  const req = (claims: Requirement['claims']): Requirement => ({
    credentialType: 'EnergyProsumerCredential',
    trustedIssuer: true,
    notExpired: true,
    claims,
  });

  it('discloses a credential only when its claims can meet the requirement for this resource', async () => {
    const subject = testActor().did;
    const vc = describeCredential(await credentialFor(subject, { meterId: 'DE-1', role: 'prosumer', nameplateKw: 5 }));
    assert.ok(vc.ok);
    const meter = req([{ claim: 'meterId', equalsParam: 'meterId' }]);
    assert.equal(mayMeet(vc.value, meter, '/energy/meters/DE-1/orders'), true);
    assert.equal(mayMeet(vc.value, meter, '/energy/meters/DE-2/orders'), false);
    assert.equal(mayMeet(vc.value, req([{ claim: 'role', oneOf: ['producer', 'prosumer'] }]), '/x'), true);
    assert.equal(mayMeet(vc.value, req([{ claim: 'role', equals: 'consumer' }]), '/x'), false);
    assert.equal(mayMeet(vc.value, req([{ claim: 'nameplateKw', atLeast: 6 }]), '/x'), false);
    assert.equal(mayMeet(vc.value, { ...req([]), credentialType: 'DataPartnerCredential' }, '/x'), false);
    const expired = describeCredential(
      await credentialFor(subject, { meterId: 'DE-1', role: 'consumer' }, Math.floor(Date.now() / 1000) - 60),
    );
    assert.ok(expired.ok);
    assert.equal(mayMeet(expired.value, meter, '/energy/meters/DE-1/orders'), false);
  });

  it('calls with the newest unexpired token whose resource the URL ends with, for that method', () => {
    const dir = freshDir();
    const w = TesseraWallet.init(dir, { chainId: 31337 });
    assert.ok(w.ok);
    const base = { verifier: 'v', holder: w.value.did, obtainedAt: new Date().toISOString() };
    const later = new Date(Date.now() + 60_000).toISOString();
    w.value.addToken({ ...base, resource: '/energy/meters/A/orders', action: 'POST', token: 'tA', expiresAt: later });
    w.value.addToken({ ...base, resource: '/energy/meters/B/orders', action: 'POST', token: 'tB', expiresAt: later });
    const url = (m: string) => `http://h/services/energy/energy/meters/${m}/orders`;
    assert.equal(tokenFor(w.value, url('A'), 'post')?.token, 'tA');
    assert.equal(tokenFor(w.value, url('B'), 'POST')?.token, 'tB');
    assert.equal(tokenFor(w.value, url('C'), 'POST'), undefined);
    assert.equal(tokenFor(w.value, url('A'), 'GET'), undefined);
    assert.equal(tokenFor(w.value, url('A'), 'POST', Date.now() + 120_000), undefined);
  });
});
