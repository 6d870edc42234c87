/**
 * Three replicas of the stack, each `npm start` in its own process with an empty data directory, on one PostgreSQL,
 * one Redis, one Mosquitto 2 with dynamic security and one anvil outside them (startCluster, what `npm run cluster`
 * runs, here without the load balancer: every request names its replica). Shown through their HTTP APIs and the
 * broker, as a client sees them:
 * - the replicas joined from configuration alone, and the issuer's sign-in rate limit is one count for all;
 * - a revocation or suspension at A is refused at B and C (time printed);
 * - a presentation nonce used at one is refused at the others;
 * - the same energy order id is refused at the second replica; one period is cleared and settled on chain once;
 * - 200 concurrent top-ups through the three replicas, the outbox sender killed -9 mid-way, each refused one retried
 *   with its request id at another replica: exactly the acknowledged amount is minted, on chain and in the database;
 * - a device on Mosquitto re-authenticates through another replica after the one that granted its session died.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EnergyCredit__factory, makeProvider, openDatabase } from '@tessera/contracts';
import { DeviceAgent, type DeviceSession, DeviceKeyStore } from '@tessera/device-agent';
import { ethrDid } from '@tessera/protocol';
import { type HolderKey, issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { holderPresentation } from './testing/fault-flows.js';
import { type JsonRpcProvider, Wallet } from 'ethers';
import type { DataSource } from 'typeorm';
import { type Cluster, startCluster } from './cluster.js';

const ROUNDS = 20;
const TOP_UPS = 200;
const EUR = 1_000_000_000n;
const PERIOD_S = 8;

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field
type Json = Record<string, any>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('replicas: three stacks (processes) on one PostgreSQL, Redis, Mosquitto and chain', () => {
  let cluster: Cluster;
  let provider: JsonRpcProvider;
  let db: DataSource;
  let admin: string;
  let chainId: number;
  const dir = mkdtempSync(join(tmpdir(), 'tessera-replicas-test-'));
  const agents: DeviceAgent[] = [];
  const http = (i: number) => cluster.replicas[i]!.http;

  before(async () => {
    cluster = await startCluster({
      replicas: 3,
      env: { TESSERA_ENERGY_PERIOD_SECONDS: String(PERIOD_S), TESSERA_LOG_LEVEL: 'warn' },
    });
    chainId = cluster.chain.chainId;
    provider = makeProvider(cluster.chain.rpcUrl, chainId);
    db = await openDatabase({ url: cluster.databaseUrl }, { entities: [], migrations: [] });
    admin = await loginWithCredentials(`${http(0)}/issuer`, readHolderFile(cluster.rootAdminWallet));
  });
  after(async () => {
    for (const a of agents) await a.stop();
    await db?.destroy();
    provider?.destroy();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (url: string, body: unknown, bearer?: string): Promise<{ status: number; body: Json }> => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const holder = async (type: string, claims: Json, key = Wallet.createRandom(), at = 0) => {
    const did = ethrDid(chainId, key.address);
    const r = await issuerRequest(`${http(at)}/issuer`, 'POST', '/credentials', {
      token: admin,
      body: { type, subject: did, claims },
    });
    assert.equal(r.status, 201, r.text);
    return {
      key: { did, privateKey: key.privateKey, credentials: [r.json.jwt as string] } as HolderKey,
      id: r.json.id,
    };
  };
  /** The VP answering a presentation request made at replica `at`. */
  const presentation = async (at: number, key: HolderKey, resource: string, action: string) => {
    const req = await post(`${http(at)}/verifier/presentation-requests`, { resource, action });
    assert.equal(req.status, 201, JSON.stringify(req.body));
    return holderPresentation(key, req.body);
  };
  const accessToken = async (at: number, key: HolderKey, resource: string, action: string) => {
    const t = await post(`${http(at)}/verifier/presentations`, { vp: await presentation(at, key, resource, action) });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    return t.body.access_token as string;
  };
  const metric = async (at: number, name: string) => {
    const text = await (await fetch(`${http(at)}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(name));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it('every replica joined from configuration alone: same contracts and issuer, no chain or broker of its own', async () => {
    const health = await Promise.all(
      [0, 1, 2].map(async (i) => (await (await fetch(`${http(i)}/healthz`)).json()) as Json),
    );
    for (const h of health) {
      assert.equal(h.ok, true, JSON.stringify(h));
      assert.deepEqual(h.parts.contracts, health[0]!.parts.contracts);
      assert.equal(h.parts.chain.embedded, false);
      assert.equal(h.parts.mqtt.url, cluster.mqtt.url, 'devices go to the shared Mosquitto');
    }
    assert.equal(health.filter((h) => h.parts.outbox.sender).length, 1, 'one outbox sender');
    // one issuer: a credential issued at each replica names the same issuer and verifies at the others
    const key = Wallet.createRandom();
    const issuers = new Set<string>();
    for (const at of [0, 1, 2]) {
      const jwt = (await holder('EnergyProsumerCredential', { meterId: `JOIN-${at}`, role: 'consumer' }, key, at)).key
        .credentials[0]!;
      issuers.add(JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).iss);
      assert.equal((await post(`${http((at + 1) % 3)}/verifier/verify`, { jwt })).status, 200);
    }
    assert.equal(issuers.size, 1, [...issuers].join(', '));
  });

  it(`a revocation or suspension at A is refused at B and C: ${ROUNDS} changes, propagation printed`, async () => {
    const alice = Wallet.createRandom();
    const operator = await loginWithCredentials(
      `${http(0)}/issuer`,
      (await holder('OperatorCredential', { name: 'Status operator' })).key,
    );
    const times: number[] = [];
    const verifyAt = (i: number, jwt: string) => post(`${http(i)}/verifier/verify`, { jwt });
    for (let i = 0; i < ROUNDS; i++) {
      const issued = await holder(
        'EnergyProsumerCredential',
        { meterId: `DE-MALO-${String(i).padStart(4, '0')}`, role: 'prosumer', nameplateKw: 6 },
        alice,
      );
      const jwt = issued.key.credentials[0]!;
      for (const b of [1, 2]) assert.equal((await verifyAt(b, jwt)).status, 200);
      const suspend = i % 4 === 3;
      const changed = await issuerRequest(
        `${http(0)}/issuer`,
        'POST',
        `/credentials/${issued.id}/${suspend ? 'suspend' : 'revoke'}`,
        { token: operator },
      );
      assert.equal(changed.status, 200, changed.text);
      const t0 = performance.now();
      const want = suspend ? 'ERR_VC_SUSPENDED' : 'ERR_VC_REVOKED';
      await Promise.all(
        [1, 2].map(async (b) => {
          for (;;) {
            const r = await verifyAt(b, jwt);
            if (r.status !== 200) {
              assert.equal(r.body.error?.code, want);
              break;
            }
            assert.ok(performance.now() - t0 < 5000, `round ${i}: replica ${b + 1} still accepts after 5 s`);
            await sleep(5);
          }
          times.push(performance.now() - t0);
        }),
      );
    }
    times.sort((x, y) => x - y);
    const q = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!;
    console.log(
      `status propagation A -> B and C over Redis, separate processes (${ROUNDS} changes, ${times.length} arrivals, after A's answer): p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms`,
    );
    assert.ok(q(0.99) < 2000, 'p99 under 2 s');
  });

  it('a presentation nonce used at one replica is refused at the others', async () => {
    const bob = await holder('EnergyProsumerCredential', { meterId: 'DE-MALO-NONCE', role: 'consumer' });
    const vp = await presentation(0, bob.key, '/energy/meters/DE-MALO-NONCE/orders', 'POST');
    const first = await post(`${http(0)}/verifier/presentations`, { vp });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    for (const b of [1, 2, 0]) {
      const replay = await post(`${http(b)}/verifier/presentations`, { vp });
      assert.notEqual(replay.status, 200, `replica ${b + 1} accepted a used nonce`);
      assert.equal(replay.body.error?.code, 'ERR_VP_NONCE', JSON.stringify(replay.body));
    }
  });

  it('the same energy order id is refused at the second replica; the period is cleared and settled on chain once', async () => {
    const meters = ['FR-CLU-0001', 'FR-CLU-0002'];
    const alice = await holder('EnergyProsumerCredential', { meterId: meters[0], role: 'prosumer', nameplateKw: 6 });
    const bob = await holder('EnergyProsumerCredential', { meterId: meters[1], role: 'consumer' });
    const orders = (m: string) => `/energy/meters/${m}/orders`;
    const tokens = [
      await accessToken(1, alice.key, orders(meters[0]!), 'POST'),
      await accessToken(2, bob.key, orders(meters[1]!), 'POST'),
    ];
    const account = (await (await fetch(`${http(0)}/healthz`)).json()) as Json;
    assert.ok(account.ok);
    // a period far enough ahead that it is still open after the orders are in
    const periodId = Math.floor(Date.now() / (PERIOD_S * 1000)) + 1;
    const order = (at: number, who: number, body: Json) =>
      post(`${http(at)}/services/energy${orders(meters[who]!)}`, { periodId, ...body }, tokens[who]);
    // priced apart: the book clears without a trade, so no meter reading is needed to settle it
    const offer = { id: 'cluster-o1', side: 'offer', energyWh: 10, limitPrice: 250_000 };
    const placed = await order(0, 0, offer);
    assert.equal(placed.status, 201, JSON.stringify(placed.body));
    for (const at of [1, 2]) {
      const again = await order(at, 0, offer);
      assert.equal(again.status, 409, JSON.stringify(again.body));
      assert.equal(again.body.error?.code, 'ERR_MARKET_DUPLICATE_ORDER');
    }
    const bid = await order(1, 1, { id: 'cluster-b1', side: 'bid', energyWh: 10, limitPrice: 50_000 });
    assert.equal(bid.status, 201, JSON.stringify(bid.body));

    // every replica closes due periods on its own timer; the period is cleared once and settled on chain once
    const deadline = Date.now() + (PERIOD_S + 40) * 1000;
    let views: Json[] = [];
    for (;;) {
      views = await Promise.all(
        [0, 1, 2].map(
          async (i) => (await (await fetch(`${http(i)}/services/energy/energy/periods/${periodId}`)).json()) as Json,
        ),
      );
      if (views.every((v) => v.settlement?.status === 'mined')) break;
      assert.ok(Date.now() < deadline, `period ${periodId} not settled: ${JSON.stringify(views)}`);
      await sleep(500);
    }
    for (const v of views) {
      assert.equal(v.bookHash, views[0]!.bookHash, 'one book');
      assert.equal(v.settlement.txHash, views[0]!.settlement.txHash, 'one settlement');
      assert.equal(v.orders, 2);
    }
    assert.equal(views[0]!.trades, 0, JSON.stringify(views[0]));
    const credit = EnergyCredit__factory.connect((account.parts.contracts as Json).EnergyCredit, provider);
    const settled = await credit.queryFilter(credit.filters.Settled(periodId));
    assert.equal(settled.length, 1, 'one Settled event for the period');
    const rows = (await db.query(`SELECT status FROM tessera_outbox WHERE id LIKE $1`, [
      `energy-settle:%:${periodId}`,
    ])) as {
      status: string;
    }[];
    assert.deepEqual(
      rows.map((r) => r.status),
      ['mined'],
      'one settlement write, nothing failed',
    );
  });

  it(`${TOP_UPS} concurrent top-ups through the three replicas, the outbox sender killed -9 mid-way: exactly the acknowledged amount is minted`, async () => {
    const operator = await holder('OperatorCredential', { name: 'Market operator' });
    const token = await accessToken(0, operator.key, '/energy/credits', 'POST');
    const people = Array.from({ length: 10 }, () => Wallet.createRandom());
    const health = await Promise.all(
      [0, 1, 2].map(async (i) => (await (await fetch(`${http(i)}/healthz`)).json()) as Json),
    );
    const sender = health.findIndex((h) => h.parts.outbox.sender);
    assert.ok(sender >= 0, 'an outbox sender');
    const credit = EnergyCredit__factory.connect(health[0]!.parts.contracts.EnergyCredit, provider);
    const supplyBefore = await credit.totalSupply();

    let acknowledged = 0;
    let killedAt = -1;
    let inFlightAtKill = 0;
    const inFlight = [0, 0, 0];
    const retried: string[] = [];
    const started = Date.now();
    const topUp = async (n: number) => {
      const requestId = `cluster-top-up-${n}`;
      const body = {
        requestId,
        participant: ethrDid(chainId, people[n % people.length]!.address),
        amountNanoEur: String(EUR),
      };
      // through a replica chosen by the request number; a refused or lost answer is retried with the same request id
      // at the next replica that is alive, as a client behind a load balancer does
      for (let attempt = 0; ; attempt++) {
        const at = (n + attempt) % 3;
        if (killedAt >= 0 && at === sender) continue;
        let r: { status: number; body: Json } | undefined;
        inFlight[at]!++;
        try {
          r = await post(`${http(at)}/services/energy/energy/credits`, body, token);
        } catch {
        } finally {
          inFlight[at]!--;
        }
        if (r?.status === 200) {
          acknowledged++;
          if (acknowledged === 20 && killedAt < 0) {
            inFlightAtKill = inFlight[sender]!;
            killedAt = Date.now() - started;
            await cluster.kill(sender, 'SIGKILL');
          }
          return { requestId, txHash: r.body.txHash as string };
        }
        retried.push(`${requestId}: ${r ? `${r.status} ${r.body.error?.code ?? 'pending'}` : 'no answer'}`);
        assert.ok(attempt < 20, `${requestId} never acknowledged`);
        if (r && r.status !== 202 && r.status < 500) assert.fail(`${requestId}: ${r.status} ${JSON.stringify(r.body)}`);
        await sleep(200);
      }
    };
    const results = await Promise.all(Array.from({ length: TOP_UPS }, (_, n) => topUp(n)));
    const ms = Date.now() - started;
    assert.ok(killedAt >= 0, 'the sender was killed mid-way');
    assert.equal(acknowledged, TOP_UPS, 'every top-up acknowledged once');

    // on chain: the supply grew by exactly the acknowledged amount, each person got exactly their top-ups
    const minted = (await credit.totalSupply()) - supplyBefore;
    assert.equal(minted, BigInt(TOP_UPS) * EUR, 'minted = acknowledged');
    for (const [i, p] of people.entries())
      assert.equal(await credit.balanceOf(p.address), BigInt(TOP_UPS / people.length) * EUR, `person ${i}`);
    // in the database: one mined row per request, none signed, pending or failed, no nonce used twice
    const rows = (await db.query(
      `SELECT id, status, nonce, tx_hash AS "txHash" FROM tessera_outbox WHERE id LIKE 'energy-credit:cluster-top-up-%'`,
    )) as { id: string; status: string; nonce: number; txHash: string }[];
    assert.equal(rows.length, TOP_UPS);
    assert.deepEqual([...new Set(rows.map((r) => r.status))], ['mined']);
    const all = (await db.query('SELECT status, nonce FROM tessera_outbox')) as { status: string; nonce: number }[];
    assert.equal(all.filter((r) => r.status === 'signed' || r.status === 'pending').length, 0, 'nothing left open');
    const nonces = all.filter((r) => r.status === 'mined').map((r) => r.nonce);
    assert.equal(new Set(nonces).size, nonces.length, 'no nonce used twice');
    const byId = new Map(rows.map((r) => [r.id, r.txHash]));
    for (const r of results)
      assert.equal(byId.get(`energy-credit:${r.requestId}`), r.txHash, 'the answer names the mined write');
    console.log(
      `top-ups over 3 replicas: ${TOP_UPS} acknowledged, ${Number(minted / EUR)} € minted, ${rows.length} rows mined; sender r${sender + 1} killed -9 at ${killedAt} ms with ${inFlightAtKill} requests in flight at it, ${retried.length} answers retried at another replica; done in ${ms} ms`,
    );

    // the killed replica comes back on its data directory and joins again
    await cluster.restart(sender);
    assert.equal((await fetch(`${http(sender)}/healthz`)).status, 200);
  });

  it('a device on Mosquitto re-authenticates through another replica after the one that granted its session died', async () => {
    const issuer = `${http(0)}/issuer`;
    const manufacturer = await loginWithCredentials(
      issuer,
      (
        await holder('ManufacturerCredential', {
          legalName: 'Cluster Meters SA',
          country: 'FR',
          manufacturerCode: 'CLU',
        })
      ).key,
    );
    const registered = await issuerRequest(issuer, 'POST', '/devices/batches', {
      token: manufacturer,
      body: {
        devices: [
          {
            characteristics: {
              model: 'SMGW-3000',
              serial: 'CLU-1',
              hardwareRevision: 'r1',
              firmwareHash: randomBytes(32).toString('hex'),
              mac: randomBytes(6).toString('hex'),
            },
          },
        ],
      },
    });
    assert.equal(registered.status, 201, registered.text);
    const store = DeviceKeyStore.open(join(dir, 'device'));
    const enrolled = store.enrol(registered.json.devices[0].provisioning);
    const owner = await holder('DeviceOwnerCredential', { device: enrolled.did });
    const commissioned = await issuerRequest(issuer, 'POST', `/devices/${enrolled.deviceId}/commission`, {
      token: await loginWithCredentials(issuer, owner.key),
      body: { identity: enrolled.did },
    });
    assert.equal(commissioned.status, 200, commissioned.text);
    const { brokerUrl, ...identity } = store.load();
    assert.equal(brokerUrl, cluster.mqtt.url, 'the provisioning file names the shared broker');
    const agent = () => {
      const a = new DeviceAgent({
        identity,
        brokerUrl,
        backoff: { initialMs: 50, maxMs: 500 },
        handshakeTimeoutMs: 10_000,
      });
      agents.push(a);
      if (process.env.DEBUG_AGENT)
        for (const e of ['connected', 'disconnected', 'refused', 'denied', 'session', 'rogue', 'final'])
          a.on(e, (x: unknown) => console.log(new Date().toISOString(), e, JSON.stringify(x)?.slice(0, 200)));
      return a;
    };
    const granted = (at: number[]) =>
      Promise.all(at.map((i) => metric(i, 'tessera_mqtt_handshakes_total{outcome="granted"'))).then((n) =>
        n.reduce((x, y) => x + y, 0),
      );

    const first = agent();
    const session = once(first, 'session') as Promise<[DeviceSession]>;
    first.start();
    await session;
    // one replica answered it (the replicas share one subscription group on the broker): that one dies (kill -9), the
    // device comes back (a new connection) and is answered by another
    const counts = await Promise.all([0, 1, 2].map((i) => granted([i])));
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      1,
      `granted once, by one replica: ${counts.join(', ')}`,
    );
    const dead = counts.indexOf(1);
    const alive = [0, 1, 2].filter((i) => i !== dead);
    await cluster.kill(dead, 'SIGKILL');
    await first.stop();
    const before = await granted(alive);
    const t0 = performance.now();
    const second = agent();
    const again = once(second, 'session') as Promise<[DeviceSession]>;
    second.start();
    const [s] = await again;
    const ms = performance.now() - t0;
    assert.ok((await granted(alive)) > before, 'granted by a replica that is alive');
    const valid = await post(`${http(alive[0]!)}/verifier/verify`, { jwt: s.credential });
    assert.equal(valid.status, 200, JSON.stringify(valid.body));
    console.log(
      `device failover: r${dead + 1} (which granted its session) killed -9, a new session granted by another replica in ${ms.toFixed(0)} ms`,
    );
    await second.stop();
    await cluster.restart(dead);
  });

  it("the issuer's sign-in rate limit is one count for all replicas (Redis)", async () => {
    // 60 sign-in challenges a minute per client: round robin over the three replicas, the first refusal comes before
    // the 61st request, though each replica saw about 20 (a count per process would allow 180).
    for (let attempt = 0; ; attempt++) {
      const window = Math.floor(Date.now() / 60_000);
      const statuses: number[] = [];
      for (let i = 0; i < 61; i++) {
        const res = await fetch(`${http(i % 3)}/issuer/auth/challenge`, { method: 'POST' });
        await res.arrayBuffer();
        statuses.push(res.status);
        if (res.status === 429) break;
      }
      // a minute boundary in the middle opens a new window: once more
      if (Math.floor(Date.now() / 60_000) !== window && attempt === 0) continue;
      assert.equal(statuses.at(-1), 429, `refused within 61 requests: ${statuses.join(',')}`);
      assert.ok(
        statuses.slice(0, -1).every((x) => x === 201),
        statuses.join(','),
      );
      break;
    }
  });
});
