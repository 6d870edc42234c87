/**
 * The issuer's store-dependent conformance suite, run against every database configuration
 * (SQLite in issuer.test.ts, PostgreSQL in issuer.services.test.ts) on a real anvil chain.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  type DatabaseConfig,
  ensureDeployed,
  makeProvider,
  Outbox,
  startAnvil,
} from '@tessera/contracts';
import {
  CREDENTIAL_TYPE_NAMES,
  type CredentialType,
  DEVICE_SESSION_TTL_S,
  decodeStatusList,
  OFFER_PROOF_TYP,
  type StatusPurpose,
} from '@tessera/protocol';
import { SecretBox } from '@veramo/kms-local';
import { createJWT, ES256KSigner, hexToBytes } from 'did-jwt';
import { verifyCredential } from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { type JsonRpcProvider, Wallet } from 'ethers';
import { getResolver } from 'ethr-did-resolver';
import type { DataSource } from 'typeorm';
import { buildIssuer, type Issuer, type StatusChangeEvent } from './issuer.js';
import { CheckedSecretBox, SECRET_BOX_KEY_FILE } from './keys.js';
import { openIssuerDatabase } from './store.js';

export interface StoreBackend {
  name: string;
  /** A fresh, empty database for one test; `dataDir` is that test's data directory. */
  freshDatabase(dataDir: string): Promise<DatabaseConfig>;
  /** Drop everything `freshDatabase` created. */
  cleanup(): Promise<void>;
}

const SUBJECT = `did:ethr:0x7a69:0x${'a1'.repeat(20)}`;
const OTHER = `did:ethr:0x7a69:0x${'b2'.repeat(20)}`;

/** Valid claims for every type. */
export const SAMPLE_CLAIMS: Record<CredentialType, Record<string, unknown>> = {
  DeviceIdentityCredential: {
    fingerprint: `0x${'ab'.repeat(32)}`,
    manufacturer: OTHER,
    deviceClass: 'smart-meter-gateway',
    model: 'SMGW-1',
    serialNumber: 'SN-0001',
  },
  DeviceSessionCredential: { sessionId: 's-1', clientId: 'dev-1', publish: ['tessera/v1/dev-1/readings'] },
  AdminCredential: { name: 'Ada Admin' },
  OperatorCredential: { name: 'Otto Operator', areas: ['north'] },
  ManufacturerCredential: { legalName: 'Acme Meters GmbH', country: 'DE', manufacturerCode: 'ACME' },
  DeviceOwnerCredential: { device: OTHER, since: '2026-01-01' },
  EnergyProsumerCredential: { meterId: 'DE000123', role: 'prosumer', nameplateKw: 9.8, storageKwh: 10 },
  AccreditedInvestorCredential: {
    jurisdiction: 'DE',
    investorType: 'individual',
    accreditationLevel: 'professional',
    kycLevel: 'enhanced',
  },
  DataPartnerCredential: { organisationName: 'Grid Data Ltd', registrationId: 'HRB 12345', dataspace: 'energy-ds' },
  OfferingIssuerCredential: { legalName: 'Marseille Solar Bonds SA', registrationId: 'RCS 123', jurisdiction: 'FR' },
  CertifierCredential: {
    legalName: 'Green Assurance BV',
    registrationId: 'KvK 456',
    jurisdiction: 'NL',
    certifiesOfferings: true,
    accreditsInvestors: false,
  },
};

const decodeJwt = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));

export function issuerStoreSuite(backend: StoreBackend): void {
  describe(`issuer on ${backend.name}`, () => {
    let chain: AnvilChain;
    let provider: JsonRpcProvider;
    let addresses: { EthereumDIDRegistry: string; TesseraAnchor: string };
    let resolver: Resolver;
    const dirs: string[] = [];
    const open: { ds: DataSource }[] = [];

    before(async () => {
      chain = await startAnvil({});
      provider = makeProvider(chain.rpcUrl, chain.chainId);
      const dir = mkdtempSync(join(tmpdir(), 'tessera-issuer-chain-'));
      dirs.push(dir);
      addresses = await ensureDeployed({
        provider,
        deployer: new Wallet(ANVIL_FUNDER_KEY, provider),
        chainId: chain.chainId,
        file: join(dir, 'deployments.json'),
        allowDeploy: true,
      });
      resolver = new Resolver(
        getResolver({
          networks: [{ chainId: '0x7a69', provider: provider as never, registry: addresses.EthereumDIDRegistry }],
        }),
      );
    });
    after(async () => {
      for (const o of open) if (o.ds.isInitialized) await o.ds.destroy();
      provider?.destroy();
      await chain?.stop();
      await backend.cleanup();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    /** A data directory + database, and a way to (re)build the issuer over them as a restart would. */
    const setup = async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'tessera-issuer-'));
      dirs.push(dataDir);
      const db = await backend.freshDatabase(dataDir);
      const slot = { ds: undefined as unknown as DataSource };
      open.push(slot);
      const start = async (
        extra: {
          secretBoxKey?: string;
          withOutbox?: boolean;
          issuerPrivateKey?: string;
          now?: () => Date;
          statusListMaxFill?: number;
        } = {},
      ) => {
        slot.ds = await openIssuerDatabase(db);
        const outbox = extra.withOutbox
          ? new Outbox({
              dataSource: slot.ds,
              signer: new Wallet(ANVIL_FUNDER_KEY, provider),
              provider,
              chainId: chain.chainId,
              receiptTimeoutMs: 120_000, // generous: a loaded CI machine, not a test of speed
            })
          : undefined;
        const issuer = await buildIssuer(
          {
            dataDir,
            publicBaseUrl: 'https://issuer.example/',
            ...(extra.secretBoxKey ? { secretBoxKey: extra.secretBoxKey } : {}),
            ...(extra.statusListMaxFill ? { statusListMaxFill: extra.statusListMaxFill } : {}),
          },
          {
            dataSource: slot.ds,
            provider,
            chainId: chain.chainId,
            registryAddress: addresses.EthereumDIDRegistry,
            ...(outbox ? { outbox, anchorAddress: addresses.TesseraAnchor } : {}),
            ...(extra.issuerPrivateKey ? { issuerPrivateKey: extra.issuerPrivateKey } : {}),
            ...(extra.now ? { now: extra.now } : {}),
          },
        );
        return { issuer, ds: slot.ds };
      };
      const stop = async () => {
        if (slot.ds?.isInitialized) await slot.ds.destroy();
      };
      return { dataDir, db, start, stop };
    };

    const bitsOf = async (issuer: Issuer, listId: number, purpose: StatusPurpose) => {
      const r = await issuer.statusListCredential(listId, purpose);
      assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
      const verified = await verifyCredential(r.value.jwt, resolver);
      assert.equal(verified.issuer, issuer.did);
      const subject = verified.verifiableCredential.credentialSubject as { encodedList: string; statusPurpose: string };
      assert.equal(subject.statusPurpose, purpose);
      const bits = decodeStatusList(subject.encodedList);
      assert.ok(bits.ok);
      assert.ok(bits.value.length >= 131_072);
      return { bits: bits.value, version: r.value.version, jwt: r.value.jwt };
    };

    it('issues every credential type as a JWT VC signed by its did:ethr, with two status entries', async () => {
      const env = await setup();
      const { issuer } = await env.start();
      assert.match(issuer.did, /^did:ethr:0x7a69:0x0[23][0-9a-f]{64}$/);
      const indexes = new Set<number>();
      for (const type of CREDENTIAL_TYPE_NAMES) {
        const r = await issuer.issue(
          { type, subject: SUBJECT, claims: SAMPLE_CLAIMS[type] },
          { actor: 'did:test:admin' },
        );
        assert.ok(r.ok, `${type}: ${JSON.stringify(!r.ok && r.error)}`);
        const vc = r.value;
        const verified = await verifyCredential(vc.jwt, resolver);
        assert.equal(verified.issuer, issuer.did);
        const payload = decodeJwt(vc.jwt);
        assert.equal(payload.iss, issuer.did);
        assert.equal(payload.sub, SUBJECT);
        assert.equal(payload.jti, vc.id);
        assert.deepEqual(payload.vc.type, ['VerifiableCredential', type]);
        assert.deepEqual(payload.vc['@context'], ['https://www.w3.org/2018/credentials/v1']);
        assert.ok(payload.exp > payload.nbf);
        const status = payload.vc.credentialStatus as Record<string, string>[];
        assert.deepEqual(
          status.map((s) => s.statusPurpose),
          ['revocation', 'suspension'],
        );
        for (const s of status) {
          assert.equal(s.type, 'BitstringStatusListEntry');
          assert.equal(s.statusListIndex, String(vc.statusIndex));
          assert.equal(
            s.statusListCredential,
            `https://issuer.example/status-lists/${vc.statusList}/${s.statusPurpose}`,
          );
        }
        assert.ok(vc.statusIndex >= 0 && vc.statusIndex < 131_072);
        indexes.add(vc.statusIndex);
        const got = await issuer.get(vc.id);
        assert.ok(got.ok);
        assert.equal(got.value.jwt, vc.jwt);
        assert.deepEqual(got.value.claims, SAMPLE_CLAIMS[type]);
      }
      assert.equal(indexes.size, CREDENTIAL_TYPE_NAMES.length, 'every credential has its own status index');
      const sessions = await issuer.list({ type: 'DeviceSessionCredential' });
      assert.ok(sessions.ok && sessions.value.items.length === 1);
      const session = await issuer.get(sessions.value.items[0]!.id);
      assert.ok(session.ok);
      assert.equal(session.value.expired, false);
      const lifetime = Date.parse(session.value.expiresAt) - Date.parse(session.value.issuedAt);
      assert.equal(
        lifetime,
        DEVICE_SESSION_TTL_S * 1000,
        'session credentials default to the handshake session lifetime',
      );
      const audit = await issuer.audit({ limit: 1000 });
      assert.equal(audit.filter((e) => e.what === 'credential.issue').length, CREDENTIAL_TYPE_NAMES.length);
      assert.equal(audit.find((e) => e.what === 'credential.issue')?.who, 'did:test:admin');
      await env.stop();
    });

    it('refuses bad claims, unknown types, bad subjects and over-long validity, and stores nothing', async () => {
      const env = await setup();
      const { issuer } = await env.start();
      const before = (await issuer.audit({ limit: 1000 })).length;
      const bad = await issuer.issue({
        type: 'EnergyProsumerCredential',
        subject: SUBJECT,
        claims: { meterId: 'DE000123', role: 'producer' },
      });
      assert.equal(!bad.ok && bad.error.code, 'ERR_VC_CLAIMS_INVALID');
      assert.ok(!bad.ok && Array.isArray(bad.error.details));
      const extra = await issuer.issue({
        type: 'AdminCredential',
        subject: SUBJECT,
        claims: { name: 'Eve', role: 'superuser' },
      });
      assert.equal(!extra.ok && extra.error.code, 'ERR_VC_CLAIMS_INVALID', 'unknown claims are not signed');
      const unknown = await issuer.issue({ type: 'GodModeCredential', subject: SUBJECT, claims: {} });
      assert.equal(!unknown.ok && unknown.error.code, 'ERR_VC_TYPE_UNKNOWN');
      const subject = await issuer.issue({ type: 'AdminCredential', subject: 'mallory', claims: { name: 'M' } });
      assert.equal(!subject.ok && subject.error.code, 'ERR_DID_MALFORMED');
      const tooLong = await issuer.issue({
        type: 'DeviceSessionCredential',
        subject: SUBJECT,
        claims: SAMPLE_CLAIMS.DeviceSessionCredential,
        validitySeconds: 7 * 24 * 3600,
      });
      assert.equal(!tooLong.ok && tooLong.error.code, 'ERR_VALIDATION');
      const page = await issuer.list();
      assert.ok(page.ok);
      assert.equal(page.value.items.length, 0, 'no credential was stored');
      assert.equal((await issuer.audit({ limit: 1000 })).length, before, 'no audit entry was written');
      const listQuery = await issuer.list({ type: 'GodModeCredential' });
      assert.equal(!listQuery.ok && listQuery.error.code, 'ERR_VC_TYPE_UNKNOWN');
      const missing = await issuer.get('urn:uuid:00000000-0000-0000-0000-000000000000');
      assert.equal(!missing.ok && missing.error.code, 'ERR_NOT_FOUND');
      await env.stop();
    });

    it('suspend, resume and revoke flip the bits of the served status lists and notify at once', async () => {
      const env = await setup();
      const { issuer } = await env.start();
      const events: StatusChangeEvent[] = [];
      issuer.events.on('status', (e) => events.push(e));
      const a = await issuer.issue({
        type: 'OperatorCredential',
        subject: SUBJECT,
        claims: SAMPLE_CLAIMS.OperatorCredential,
      });
      const b = await issuer.issue({ type: 'AdminCredential', subject: OTHER, claims: SAMPLE_CLAIMS.AdminCredential });
      assert.ok(a.ok && b.ok);
      const list = a.value.statusList;
      assert.equal(b.value.statusList, list);
      const idx = a.value.statusIndex;

      let rev = await bitsOf(issuer, list, 'revocation');
      let sus = await bitsOf(issuer, list, 'suspension');
      assert.equal(rev.bits.get(idx), false);
      assert.equal(sus.bits.get(idx), false);

      const s = await issuer.suspend(a.value.id, { actor: 'did:test:operator', reason: 'meter tampering' });
      assert.ok(s.ok && s.value.changed && s.value.credential.status === 'suspended');
      assert.equal(events.length, 1, 'the change is published when it commits');
      assert.equal(events[0]!.status, 'suspended');
      assert.deepEqual(events[0]!.statusListCredentials, [issuer.statusListUrl(list, 'suspension')]);
      sus = await bitsOf(issuer, list, 'suspension');
      assert.equal(sus.bits.get(idx), true);
      assert.equal(sus.bits.get(b.value.statusIndex), false, 'only that credential');
      assert.equal((await bitsOf(issuer, list, 'revocation')).bits.get(idx), false);

      const again = await issuer.suspend(a.value.id);
      assert.ok(again.ok && !again.value.changed, 'suspending twice changes nothing');
      assert.equal(events.length, 1);

      const r = await issuer.resume(a.value.id);
      assert.ok(r.ok && r.value.credential.status === 'active');
      assert.equal((await bitsOf(issuer, list, 'suspension')).bits.get(idx), false);

      const v = await issuer.revoke(a.value.id, { actor: 'did:test:operator' });
      assert.ok(v.ok && v.value.credential.status === 'revoked');
      rev = await bitsOf(issuer, list, 'revocation');
      assert.equal(rev.bits.get(idx), true);
      assert.equal(rev.bits.get(b.value.statusIndex), false);
      const resume = await issuer.resume(a.value.id);
      assert.equal(!resume.ok && resume.error.code, 'ERR_CONFLICT', 'revocation is final');
      const none = await issuer.revoke('urn:uuid:nope');
      assert.equal(!none.ok && none.error.code, 'ERR_NOT_FOUND');
      assert.deepEqual(
        events.map((e) => `${e.previous}>${e.status}`),
        ['active>suspended', 'suspended>active', 'active>revoked'],
      );
      assert.ok(events[2]!.listVersion > events[0]!.listVersion);

      const revoked = await issuer.list({ status: 'revoked' });
      assert.ok(revoked.ok);
      assert.deepEqual(
        revoked.value.items.map((c) => c.id),
        [a.value.id],
      );
      const trail = await issuer.audit({ limit: 1000 });
      assert.deepEqual(
        trail.filter((e) => e.what !== 'credential.issue' && e.what !== 'issuer.create-did').map((e) => e.what),
        ['credential.suspend', 'credential.resume', 'credential.revoke'],
      );
      assert.equal(trail.find((e) => e.what === 'credential.suspend')?.details.reason, 'meter tampering');
      await env.stop();
    });

    it('opens a new status list when the current one reaches its fill limit', async () => {
      const env = await setup();
      // floor(131072 * 0.00005) = 6 credentials per list
      const { issuer } = await env.start({ statusListMaxFill: 0.00005 });
      const made = [];
      for (let i = 0; i < 10; i++) {
        const r = await issuer.issue({ type: 'AdminCredential', subject: SUBJECT, claims: { name: `Admin ${i}` } });
        assert.ok(r.ok);
        made.push(r.value);
      }
      assert.deepEqual(await issuer.statusLists(), [1, 2]);
      assert.equal(made.filter((c) => c.statusList === 1).length, 6);
      const last = made[9]!;
      assert.equal(last.statusList, 2);
      assert.ok((await issuer.revoke(last.id)).ok);
      assert.equal((await bitsOf(issuer, 2, 'revocation')).bits.get(last.statusIndex), true);
      assert.equal((await bitsOf(issuer, 1, 'revocation')).bits.get(last.statusIndex), false, 'only on its own list');
      await env.stop();
    });

    it('lists by type, subject and status, page by page', async () => {
      const env = await setup();
      const { issuer } = await env.start();
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await issuer.issue({
          type: i % 2 ? 'AdminCredential' : 'EnergyProsumerCredential',
          subject: i < 3 ? SUBJECT : OTHER,
          claims: i % 2 ? SAMPLE_CLAIMS.AdminCredential : SAMPLE_CLAIMS.EnergyProsumerCredential,
        });
        assert.ok(r.ok);
        ids.push(r.value.id);
      }
      const byType = await issuer.list({ type: 'AdminCredential' });
      assert.ok(byType.ok);
      assert.equal(byType.value.items.length, 3);
      const bySubject = await issuer.list({ subject: SUBJECT });
      assert.ok(bySubject.ok);
      assert.equal(bySubject.value.items.length, 3);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const p = await issuer.list({ limit: 3, ...(cursor ? { cursor } : {}) });
        assert.ok(p.ok);
        seen.push(...p.value.items.map((c) => c.id));
        cursor = p.value.nextCursor;
        if (!cursor) break;
      }
      assert.deepEqual([...seen].sort(), [...ids].sort(), 'every credential exactly once across pages');
      const bad = await issuer.list({ status: 'lost' as never });
      assert.equal(!bad.ok && bad.error.code, 'ERR_VALIDATION');
      await env.stop();
    });

    it('allocates distinct random indexes under concurrent issuance, each with its audit entry', async () => {
      const env = await setup();
      const { issuer } = await env.start();
      const results = await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          issuer.issue({
            type: 'DeviceOwnerCredential',
            subject: SUBJECT,
            claims: { device: `did:ethr:0x7a69:0x${String(i).padStart(40, '0')}` },
          }),
        ),
      );
      assert.ok(results.every((r) => r.ok));
      const indexes = results.map((r) => (r.ok ? r.value.statusIndex : -1));
      assert.equal(new Set(indexes).size, 25);
      const sorted = [...indexes].sort((x, y) => x - y);
      assert.notDeepEqual(indexes, sorted, 'indexes are random, not in issuance order');
      const v = await issuer.verifyAudit();
      assert.ok(v.ok);
      assert.equal(v.value.length, 26, 'the DID creation and 25 issuances');
      await env.stop();
    });

    it("two replicas on one database allocate distinct slots, keep one audit chain and serve each other's changes", async () => {
      const env = await setup();
      const { issuer: a } = await env.start();
      const dsB = await openIssuerDatabase(env.db);
      open.push({ ds: dsB });
      const b = await buildIssuer(
        { dataDir: env.dataDir, publicBaseUrl: 'https://issuer.example/' },
        { dataSource: dsB, provider, chainId: chain.chainId, registryAddress: addresses.EthereumDIDRegistry },
      );
      assert.equal(b.did, a.did, 'one issuer identity');
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          (i % 2 ? a : b).issue({ type: 'AdminCredential', subject: SUBJECT, claims: { name: `Admin ${i}` } }),
        ),
      );
      assert.ok(
        results.every((r) => r.ok),
        JSON.stringify(results.find((r) => !r.ok)),
      );
      const slots = results.map((r) => (r.ok ? `${r.value.statusList}:${r.value.statusIndex}` : ''));
      assert.equal(new Set(slots).size, 30);
      const v = await b.verifyAudit();
      assert.ok(v.ok, JSON.stringify(!v.ok && v.error));
      assert.equal(v.value.length, 31);

      const first = results[0]!.ok ? results[0]!.value : undefined;
      assert.ok(first);
      // B caches the list, A revokes, B must serve the new bits (the list version moved in the database).
      assert.equal((await bitsOf(b, first.statusList, 'revocation')).bits.get(first.statusIndex), false);
      assert.ok((await a.revoke(first.id)).ok);
      assert.equal((await bitsOf(b, first.statusList, 'revocation')).bits.get(first.statusIndex), true);
      await dsB.destroy();
      await env.stop();
    });

    it('restarting from the same data directory loses no credential, status or audit entry', async () => {
      const env = await setup();
      let { issuer } = await env.start();
      const did = issuer.did;
      const made = [];
      for (const type of ['AdminCredential', 'OperatorCredential', 'EnergyProsumerCredential'] as const) {
        const r = await issuer.issue({ type, subject: SUBJECT, claims: SAMPLE_CLAIMS[type] });
        assert.ok(r.ok);
        made.push(r.value);
      }
      assert.ok((await issuer.suspend(made[0]!.id)).ok);
      assert.ok((await issuer.revoke(made[1]!.id)).ok);
      const headBefore = await issuer.verifyAudit();
      assert.ok(headBefore.ok);
      await env.stop();

      ({ issuer } = await env.start());
      assert.equal(issuer.did, did, 'the same DID and key');
      const all = await issuer.list();
      assert.ok(all.ok);
      assert.deepEqual(all.value.items.map((c) => c.id).sort(), made.map((c) => c.id).sort());
      const statuses = Object.fromEntries(all.value.items.map((c) => [c.id, c.status]));
      assert.equal(statuses[made[0]!.id], 'suspended');
      assert.equal(statuses[made[1]!.id], 'revoked');
      assert.equal(statuses[made[2]!.id], 'active');
      const listId = made[0]!.statusList;
      assert.equal((await bitsOf(issuer, listId, 'suspension')).bits.get(made[0]!.statusIndex), true);
      assert.equal((await bitsOf(issuer, listId, 'revocation')).bits.get(made[1]!.statusIndex), true);
      const headAfter = await issuer.verifyAudit();
      assert.ok(headAfter.ok);
      assert.deepEqual(headAfter.value, headBefore.value);
      const more = await issuer.issue({
        type: 'AdminCredential',
        subject: OTHER,
        claims: SAMPLE_CLAIMS.AdminCredential,
      });
      assert.ok(more.ok);
      assert.equal((await verifyCredential(more.value.jwt, resolver)).issuer, did, 'still signs with the same key');
      assert.equal(more.value.statusList, listId);
      await env.stop();
    });

    it('a SIGKILL in the middle of issuing loses no committed credential or status change and half-writes nothing', async () => {
      const env = await setup();
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          fileURLToPath(new URL('./testing/issue-until-killed.ts', import.meta.url)),
          JSON.stringify({
            dataDir: env.dataDir,
            db: env.db,
            rpcUrl: chain.rpcUrl,
            chainId: chain.chainId,
            registryAddress: addresses.EthereumDIDRegistry,
          }),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const committed = new Map<string, string>();
      let buffered = '';
      // Kill once 20 operations have committed, whatever the child is doing at that instant.
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
        child.stdout!.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop()!;
          for (const line of lines) {
            const [what, id] = line.split(' ');
            committed.set(id!, what === 'suspended' ? 'suspended' : 'active');
          }
          if (committed.size >= 15 && [...committed.values()].includes('suspended')) {
            child.kill('SIGKILL');
            resolve();
          }
        });
      });
      await exited;
      const { issuer } = await env.start();
      for (const [id, status] of committed) {
        const got = await issuer.get(id);
        assert.ok(got.ok, `committed credential ${id} survives`);
        if (status === 'suspended') assert.equal(got.value.status, 'suspended');
      }
      const all = await issuer.list({ limit: 500 });
      assert.ok(all.ok);
      assert.ok(all.value.items.length >= committed.size);
      assert.ok(
        all.value.items.length <= committed.size + 1,
        'at most the one in flight, committed but not yet printed',
      );
      const audit = await issuer.verifyAudit();
      assert.ok(audit.ok, 'the audit trail is intact');
      const issues = (await issuer.audit({ limit: 1000 })).filter((e) => e.what === 'credential.issue');
      assert.equal(issues.length, all.value.items.length, 'one audit entry per stored credential, no more, no less');
      await env.stop();
    });

    it('adopts a given issuer key as an address-form did:ethr, keeps it sealed, and refuses another key later', async () => {
      const env = await setup();
      const key = Wallet.createRandom();
      const { issuer, ds } = await env.start({ issuerPrivateKey: key.privateKey });
      assert.equal(issuer.did, `did:ethr:0x7a69:${key.address.toLowerCase()}`);
      const r = await issuer.issue({
        type: 'AdminCredential',
        subject: SUBJECT,
        claims: SAMPLE_CLAIMS.AdminCredential,
      });
      assert.ok(r.ok);
      assert.equal((await verifyCredential(r.value.jwt, resolver)).issuer, issuer.did);
      const sealed = JSON.stringify(await ds.query('SELECT * FROM "private-key"'));
      assert.equal(sealed.includes(key.privateKey.slice(2)), false, 'the imported key is stored sealed');
      await env.stop();
      const again = await env.start({ issuerPrivateKey: key.privateKey });
      assert.equal(again.issuer.did, issuer.did);
      await env.stop();
      await assert.rejects(
        env.start({ issuerPrivateKey: Wallet.createRandom().privateKey }),
        (e: Error & { code?: string }) => e.code === 'ERR_CONFIG_INVALID',
      );
      await env.stop();
    });

    it('delivers a credential through a one-time offer only to its subject, once, before expiry', async () => {
      const env = await setup();
      const clock = { offsetMs: 0 };
      const { issuer } = await env.start({ now: () => new Date(Date.now() + clock.offsetMs) });
      const holder = Wallet.createRandom();
      const holderDid = `did:ethr:0x7a69:${holder.address.toLowerCase()}`;
      const vc = await issuer.issue({
        type: 'EnergyProsumerCredential',
        subject: holderDid,
        claims: SAMPLE_CLAIMS.EnergyProsumerCredential,
      });
      assert.ok(vc.ok);
      const offer = await issuer.offer(vc.value.id, { actor: 'did:test:admin' });
      assert.ok(offer.ok);
      const proof = (
        key: { privateKey: string },
        did: string,
        nonce: string | null,
        aud: string | null = 'https://issuer.example',
        typ = OFFER_PROOF_TYP,
        extra: Record<string, unknown> = {},
      ) =>
        createJWT(
          { ...(aud === null ? {} : { aud }), ...(nonce === null ? {} : { nonce }), ...extra },
          { issuer: did, signer: ES256KSigner(hexToBytes(key.privateKey)) },
          { alg: 'ES256K', typ: typ as 'JWT' }, // did-jwt types typ as 'JWT'
        );

      const thief = Wallet.createRandom();
      const stolen = await issuer.redeemOffer(
        offer.value.code,
        await proof(thief, `did:ethr:0x7a69:${thief.address.toLowerCase()}`, offer.value.code),
      );
      assert.equal(!stolen.ok && stolen.error.code, 'ERR_VC_SUBJECT_MISMATCH', 'only the subject can pick it up');
      const forged = await issuer.redeemOffer(offer.value.code, await proof(thief, holderDid, offer.value.code));
      assert.equal(!forged.ok && forged.error.code, 'ERR_JWT_SIGNATURE');
      const unbound = await issuer.redeemOffer(offer.value.code, await proof(holder, holderDid, 'another-code'));
      assert.equal(!unbound.ok && unbound.error.code, 'ERR_VP_NONCE');
      const misdirected = await issuer.redeemOffer(
        offer.value.code,
        await proof(holder, holderDid, offer.value.code, 'https://evil.example'),
      );
      assert.equal(!misdirected.ok && misdirected.error.code, 'ERR_VP_AUDIENCE');
      // A leaked code plus any JWT of the subject that lacks the audience, the proof type or the nonce redeems nothing.
      const noAudience = await issuer.redeemOffer(
        offer.value.code,
        await proof(holder, holderDid, offer.value.code, null),
      );
      assert.equal(!noAudience.ok && noAudience.error.code, 'ERR_VP_AUDIENCE', 'aud is required');
      const noNonce = await issuer.redeemOffer(offer.value.code, await proof(holder, holderDid, null));
      assert.equal(!noNonce.ok && noNonce.error.code, 'ERR_VP_NONCE', 'nonce is required');
      const presentation = await proof(holder, holderDid, offer.value.code, 'https://issuer.example', 'JWT', {
        vp: { '@context': ['https://www.w3.org/2018/credentials/v1'], type: ['VerifiablePresentation'] },
      });
      const asPresentation = await issuer.redeemOffer(offer.value.code, presentation);
      assert.equal(!asPresentation.ok && asPresentation.error.code, 'ERR_PROOF_TYPE', 'a presentation is no proof');
      const untyped = await issuer.redeemOffer(
        offer.value.code,
        await proof(holder, holderDid, offer.value.code, 'https://issuer.example', 'JWT'),
      );
      assert.equal(!untyped.ok && untyped.error.code, 'ERR_PROOF_TYPE', 'typ is required');

      const got = await issuer.redeemOffer(offer.value.code, await proof(holder, holderDid, offer.value.code));
      assert.ok(got.ok, JSON.stringify(!got.ok && got.error));
      assert.equal(got.value.jwt, vc.value.jwt);
      const again = await issuer.redeemOffer(offer.value.code, await proof(holder, holderDid, offer.value.code));
      assert.equal(!again.ok && again.error.code, 'ERR_AUTH_REPLAYED', 'single use');
      const unknown = await issuer.redeemOffer('x'.repeat(43), await proof(holder, holderDid, 'x'.repeat(43)));
      assert.equal(!unknown.ok && unknown.error.code, 'ERR_NOT_FOUND');

      const late = await issuer.offer(vc.value.id, { ttlSeconds: 60 });
      assert.ok(late.ok);
      const short = await issuer.issue({
        type: 'DeviceSessionCredential',
        subject: holderDid,
        claims: SAMPLE_CLAIMS.DeviceSessionCredential,
        validitySeconds: 60,
      });
      assert.ok(short.ok && !short.value.expired);
      clock.offsetMs = 61_000;
      const shortNow = await issuer.get(short.value.id);
      assert.ok(shortNow.ok && shortNow.value.expired && shortNow.value.status === 'active', 'expired, not revoked');
      const expired = await issuer.redeemOffer(late.value.code, await proof(holder, holderDid, late.value.code));
      assert.equal(!expired.ok && expired.error.code, 'ERR_AUTH_EXPIRED');
      clock.offsetMs = 0;
      assert.ok((await issuer.revoke(vc.value.id)).ok);
      const revoked = await issuer.offer(vc.value.id);
      assert.equal(!revoked.ok && revoked.error.code, 'ERR_CONFLICT', 'a revoked credential is not offered');
      const trail = (await issuer.audit({ limit: 1000 })).map((e) => e.what);
      assert.deepEqual(
        trail.filter((w) => w.startsWith('credential.offer') || w === 'credential.redeem'),
        ['credential.offer', 'credential.redeem', 'credential.offer'],
      );
      await env.stop();
    });

    it('keeps private keys sealed: the database alone holds no usable key, and a wrong secret-box key is refused', async () => {
      const env = await setup();
      const { issuer, ds } = await env.start();
      assert.equal(statSync(join(env.dataDir, SECRET_BOX_KEY_FILE)).mode & 0o777, 0o600);
      const keys = (await ds.query('SELECT "privateKeyHex" AS k FROM "private-key"')) as { k: string }[];
      assert.equal(keys.length, 1);
      assert.doesNotMatch(keys[0]!.k, /^(0x)?[0-9a-f]{64}$/i, 'not a bare private key');
      await assert.rejects(new CheckedSecretBox(await SecretBox.createSecretKey()).decrypt(keys[0]!.k));
      assert.match(
        await new CheckedSecretBox(readFileSync(join(env.dataDir, SECRET_BOX_KEY_FILE), 'utf8').trim()).decrypt(
          keys[0]!.k,
        ),
        /^[0-9a-f]{64}$/,
        'the key file opens it',
      );
      assert.ok(issuer.did);
      await env.stop();
      const configured = await setup();
      const key = await SecretBox.createSecretKey();
      const { issuer: withKey } = await configured.start({ secretBoxKey: key });
      assert.equal(
        existsSync(join(configured.dataDir, SECRET_BOX_KEY_FILE)),
        false,
        'a configured key writes no key file',
      );
      assert.ok((await withKey.issue({ type: 'AdminCredential', subject: SUBJECT, claims: { name: 'A' } })).ok);
      await configured.stop();
      assert.equal((await configured.start({ secretBoxKey: key })).issuer.did, withKey.did);
      await configured.stop();
      await assert.rejects(env.start({ secretBoxKey: 'ab'.repeat(32) }), (e: Error & { code?: string }) => {
        return e.code === 'ERR_CONFIG_INVALID' && /secret-box key/.test(e.message);
      });
      await env.stop();
    });

    it('detects an edited, a deleted and (with the on-chain anchor) a truncated audit trail', async () => {
      const env = await setup();
      const { issuer, ds } = await env.start({ withOutbox: true });
      for (let i = 0; i < 4; i++) {
        assert.ok(
          (await issuer.issue({ type: 'AdminCredential', subject: SUBJECT, claims: { name: `Admin ${i}` } })).ok,
        );
      }
      const good = await issuer.verifyAudit();
      assert.ok(good.ok);
      assert.equal(good.value.length, 5);

      const anchored = await issuer.anchorAudit();
      assert.ok(anchored.ok, JSON.stringify(!anchored.ok && anchored.error));
      assert.equal(anchored.value.seq, 5);
      assert.ok(anchored.value.blockNumber! > 0);
      assert.deepEqual(await issuer.anchoredHead(), { seq: 5, hash: good.value.head.hash });
      assert.ok((await issuer.verifyAudit({ checkAnchor: true })).ok);

      // An edit: the entry no longer matches its hash.
      const [row] = (await ds.query('SELECT details FROM issuer_audit WHERE seq = 3')) as { details: string }[];
      await ds.query(
        `UPDATE issuer_audit SET details = '${row!.details.replace('AdminCredential', 'OperatorCredential')}' WHERE seq = 3`,
      );
      const edited = await issuer.verifyAudit();
      assert.equal(!edited.ok && edited.error.code, 'ERR_AUDIT_TAMPERED');
      assert.equal(!edited.ok && (edited.error.details as { seq: number }).seq, 3);
      await ds.query(`UPDATE issuer_audit SET details = '${row!.details}' WHERE seq = 3`);
      assert.ok((await issuer.verifyAudit()).ok, 'restored, it verifies again');

      // A deletion in the middle: the chain breaks.
      const [saved] = (await ds.query('SELECT * FROM issuer_audit WHERE seq = 2')) as Record<string, unknown>[];
      await ds.query('DELETE FROM issuer_audit WHERE seq = 2');
      const deleted = await issuer.verifyAudit();
      assert.equal(!deleted.ok && deleted.error.code, 'ERR_AUDIT_TAMPERED');
      assert.equal(!deleted.ok && (deleted.error.details as { reason: string }).reason, 'missing');
      await ds.query(
        'INSERT INTO issuer_audit (seq, at, actor, action, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)'.replace(
          /\$\d/g,
          ds.options.type === 'postgres' ? (m) => m : () => '?',
        ),
        [saved!.seq, saved!.at, saved!.actor, saved!.action, saved!.details, saved!.prev_hash, saved!.hash],
      );
      assert.ok((await issuer.verifyAudit()).ok);

      // A truncated tail still forms a valid chain; only the anchor on chain reveals it.
      await ds.query('DELETE FROM issuer_audit WHERE seq = 5');
      assert.ok((await issuer.verifyAudit()).ok, 'a shorter chain is self-consistent');
      const truncated = await issuer.verifyAudit({ checkAnchor: true });
      assert.equal(!truncated.ok && truncated.error.code, 'ERR_AUDIT_TAMPERED');
      assert.equal(!truncated.ok && (truncated.error.details as { reason: string }).reason, 'truncated');
      await env.stop();
    });
  });
}
