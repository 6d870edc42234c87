/**
 * kill -9 at seeded random points while the stack runs real flows at once: operators' top-ups (concurrent), the energy
 * market (orders for each period, readings from two gateways over MQTT after their handshake, periods closed and
 * settled on chain in EnergyCredit through the outbox). Each round kills the stack at a random moment and starts it
 * again on the same data directory and ports: for the gateways that is a broker restart, and they must earn a new
 * session by themselves. After each restart, every top-up sent (answered or not) is sent again with its request id;
 * at the end the invariants are checked against the chain and the database:
 *   - every acknowledged top-up (200, or 202 pending) is in the outbox exactly once and minted;
 *   - money is conserved: EnergyCredit's total supply is the sum of the mints the database records as mined, and each
 *     participant's balance on chain is its mints less the net of its bills of the settled periods;
 *   - every settled period is on chain with its book hash; no outbox write or device intent is left pending;
 *   - /healthz is green with every part, and its outbox counts are the database's.
 * The seed is printed (TESSERA_FAULT_SEED=<seed> repeats the same injection points).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EnergyCredit__factory, makeProvider } from '@tessera/contracts';
import { DeviceAgent, DeviceKeyStore } from '@tessera/device-agent';
import { ethrDid, topics } from '@tessera/protocol';
import { centsPerKwh as c, METER_STREAM, NANO_EUR_PER_EUR } from '@tessera/services';
import { type HolderKey, issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { Wallet } from 'ethers';
import { accessToken, http, type Json, seeded } from '../testing/fault-flows.js';
import { faultReport, freePort, readSqlite } from '../testing/fault-report.js';
import { stackProcesses } from '../testing/stack-process.js';

const { start, tmp, health } = stackProcesses();
const report = faultReport('flows');
const ROUNDS = 3;
const PERIOD_S = 6;
const PERIOD_MS = PERIOD_S * 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agents: DeviceAgent[] = [];
after(async () => {
  for (const a of agents) await a.stop();
});

interface Household {
  name: string;
  key: HolderKey;
  meterId: string;
  deviceId: string;
  agent: DeviceAgent;
  tokens: Record<'gateway' | 'orders' | 'bills', string>;
  reading: { consumedWh: number; producedWh: number };
  order: { side: 'offer' | 'bid'; energyWh: number; limitPrice: number };
}

describe('faults: kill -9 at random points during top-ups and the energy market, gateways through broker restarts', () => {
  it('loses no acknowledged top-up, mints none twice, settles every period once, and keeps money conserved', async () => {
    const seed = Number(process.env.TESSERA_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`faults flows: seed ${seed} (TESSERA_FAULT_SEED=${seed} repeats the injection points)`);
    const random = seeded(seed);
    const dir = tmp();
    const env = {
      TESSERA_HTTP_PORT: String(await freePort()),
      TESSERA_MQTT_PORT: String(await freePort()),
      TESSERA_ENERGY_PERIOD_SECONDS: String(PERIOD_S),
    };
    let s = await start(dir, env);
    const issuer = `${s.http}/issuer`;
    const energy = `${s.http}/services/energy/energy`;
    const admin = await loginWithCredentials(issuer, readHolderFile(join(dir, 'root-admin-wallet.json')));
    const holder = async (type: string, claims: object, key = Wallet.createRandom()) => {
      const did = ethrDid(31337, key.address);
      const r = await issuerRequest(issuer, 'POST', '/credentials', {
        token: admin,
        body: { type, subject: did, claims },
      });
      assert.equal(r.status, 201, r.text);
      return { did, privateKey: key.privateKey, credentials: [r.json.jwt as string] } satisfies HolderKey;
    };
    const operator = await holder('OperatorCredential', { name: 'Faults operator' });
    let opToken = await accessToken(s, operator, '/energy/credits', 'POST');
    const manufacturer = await loginWithCredentials(
      issuer,
      await holder('ManufacturerCredential', { legalName: 'Flows SA', country: 'FR', manufacturerCode: 'FLW' }),
    );

    // two households, each with a gateway that authenticates on the stack's broker and reports its meter
    const households: Household[] = [];
    for (const [name, role, meterId] of [
      ['alice', 'prosumer', 'FR-FLT-0001'],
      ['bob', 'consumer', 'FR-FLT-0002'],
    ] as const) {
      const account = Wallet.createRandom();
      const did = ethrDid(31337, account.address);
      const registered = await issuerRequest(issuer, 'POST', '/devices/batches', {
        token: manufacturer,
        body: {
          devices: [
            {
              owner: did,
              characteristics: {
                model: 'FLW-GW',
                serial: `FLW-${name}-${randomBytes(3).toString('hex')}`,
                hardwareRevision: 'r1',
                firmwareHash: randomBytes(32).toString('hex'),
                mac: randomBytes(6).toString('hex'),
              },
            },
          ],
        },
      });
      assert.equal(registered.status, 201, registered.text);
      const store = DeviceKeyStore.open(join(dir, `device-${name}`));
      const enrolled = store.enrol(registered.json.devices[0].provisioning);
      const owner = await holder('DeviceOwnerCredential', { device: enrolled.did }, account);
      const commissioned = await issuerRequest(issuer, 'POST', `/devices/${enrolled.deviceId}/commission`, {
        token: await loginWithCredentials(issuer, owner),
        body: { identity: enrolled.did },
      });
      assert.equal(commissioned.status, 200, commissioned.text);
      const prosumer = await holder(
        'EnergyProsumerCredential',
        { meterId, role, ...(role === 'prosumer' ? { nameplateKw: 6 } : {}) },
        account,
      );
      const key = { did, privateKey: account.privateKey, credentials: prosumer.credentials };
      const { brokerUrl: _b, ...identity } = store.load();
      const agent = new DeviceAgent({ identity, brokerUrl: s.mqtt, backoff: { initialMs: 100, maxMs: 1000 } });
      agents.push(agent);
      const h: Household = {
        name,
        key,
        meterId,
        deviceId: enrolled.deviceId,
        agent,
        tokens: {
          gateway: await accessToken(s, key, `/energy/meters/${meterId}/gateway`, 'POST'),
          orders: await accessToken(s, key, `/energy/meters/${meterId}/orders`, 'POST'),
          bills: await accessToken(s, key, `/energy/meters/${meterId}/bills`, 'GET'),
        },
        // 6 kW for 6 s is 10 Wh at most
        reading: role === 'prosumer' ? { consumedWh: 1, producedWh: 8 } : { consumedWh: 7, producedWh: 0 },
        order:
          role === 'prosumer'
            ? { side: 'offer', energyWh: 6, limitPrice: c(7) }
            : { side: 'bid', energyWh: 6, limitPrice: c(21) },
      };
      households.push(h);
      const session = once(agent, 'session');
      agent.start();
      await session;
      const bound = await http(
        'POST',
        `${energy}/meters/${meterId}/gateway`,
        { deviceId: h.deviceId },
        h.tokens.gateway,
      );
      assert.equal(bound.status, 200, JSON.stringify(bound.body));
    }
    const sessions = new Map<DeviceAgent, number>(households.map((h) => [h.agent, 0]));
    for (const h of households) h.agent.on('session', () => sessions.set(h.agent, sessions.get(h.agent)! + 1));
    const carol = ethrDid(31337, Wallet.createRandom().address); // credited, never trades
    const participants = [...households.map((h) => h.key.did), carol];

    // every top-up sent, by request id; the ones acknowledged (200, or 202 pending)
    const sent = new Map<string, { participant: string; amountNanoEur: string }>();
    const acked = new Set<string>();
    let pendingAnswers = 0;
    const topUp = async (requestId: string) => {
      const r = await http('POST', `${energy}/credits`, { requestId, ...sent.get(requestId)! }, opToken);
      if (r.status === 200 || r.status === 202) acked.add(requestId);
      if (r.status === 202) pendingAnswers++;
      return r;
    };
    for (const p of participants) {
      const id = `setup-${p.slice(-8)}`;
      sent.set(id, { participant: p, amountNanoEur: String(100n * NANO_EUR_PER_EUR) });
      assert.equal((await topUp(id)).status, 200);
    }

    // the market: orders for the next period, readings for every ordered period that has begun
    const ordered = new Set<number>();
    const read = new Map<string, Set<number>>(households.map((h) => [h.name, new Set<number>()]));
    const market = async (running: () => boolean, upTo?: number) => {
      while (running()) {
        const now = Math.min(Math.floor(Date.now() / PERIOD_MS), upTo ?? Number.POSITIVE_INFINITY);
        const next = now + 1;
        if (upTo === undefined && !ordered.has(next)) {
          let ok = 0;
          for (const h of households) {
            const r = await http(
              'POST',
              `${energy}/meters/${h.meterId}/orders`,
              { id: `${h.name}-${next}`, periodId: next, ...h.order },
              h.tokens.orders,
            );
            if (r.status === 201 || r.body.error?.code === 'ERR_MARKET_DUPLICATE_ORDER') ok++;
          }
          if (ok === households.length) ordered.add(next);
        }
        for (const p of ordered) {
          if (p > now) continue;
          for (const h of households) {
            if (read.get(h.name)!.has(p) || !h.agent.session) continue;
            try {
              await h.agent.publish(
                topics.telemetry(h.deviceId, METER_STREAM),
                JSON.stringify({ meterId: h.meterId, periodId: p, ...h.reading }),
              );
              read.get(h.name)!.add(p);
            } catch {
              // not connected (the broker is restarting): published again on the next pass
            }
          }
        }
        await sleep(250);
      }
    };
    const topUps = async (round: number, worker: number, running: () => boolean) => {
      for (let i = 0; running(); i++) {
        const requestId = `top-up-r${round}-w${worker}-${i}`;
        const participant = participants[Math.floor(random() * participants.length)]!;
        const amount = BigInt(1 + Math.floor(random() * 50)) * NANO_EUR_PER_EUR;
        sent.set(requestId, { participant, amountNanoEur: String(amount) });
        report.inject('top-up-sent');
        if ((await topUp(requestId)).status === 0) return;
      }
    };

    for (let round = 0; round < ROUNDS; round++) {
      let running = true;
      const alive = () => running;
      const work = Promise.all([market(alive), ...[0, 1, 2].map((w) => topUps(round, w, alive))]);
      const delay = 500 + Math.floor(random() * 4500);
      await sleep(delay);
      s.child.kill('SIGKILL');
      await new Promise((r) => (s.child.exitCode !== null || s.child.signalCode ? r(null) : s.child.once('exit', r)));
      report.inject('kill-9');
      running = false;
      await work;
      const before = new Map(sessions);
      s = await start(dir, env);
      report.inject('broker-restart');
      // the gateways come back by themselves: a new connection, a new handshake, a new session
      for (let i = 0; i < 100 && households.some((h) => sessions.get(h.agent)! <= before.get(h.agent)!); i++)
        await sleep(100);
      for (const h of households)
        assert.ok(sessions.get(h.agent)! > before.get(h.agent)!, `${h.name} has a new session`);
      report.check('gateway-session-after-broker-restart', households.length);
      // every top-up sent, answered or not, is sent again with its request id: it is minted once, or was
      // what was acknowledged before the kill is in the database, before anything is sent again
      const recorded = new Set(
        (
          await readSqlite<{ id: string }>(
            join(dir, 'tessera.sqlite'),
            "SELECT id FROM tessera_outbox WHERE kind = 'energy-credit.mint'",
          )
        ).map((r) => r.id),
      );
      const lost = [...acked].filter((id) => !recorded.has(`energy-credit:${id}`));
      assert.deepEqual(lost, [], 'every top-up acknowledged before the kill survived it');
      report.check('acknowledged-top-ups-survived-kill', acked.size);
      report.check('top-ups-in-flight-at-kill', [...sent.keys()].filter((id) => !acked.has(id)).length);
      opToken = await accessToken(s, operator, '/energy/credits', 'POST');
      // a gateway delivers at least once: what the crash may have lost is published again (a repeat is refused)
      for (const set of read.values()) set.clear();
      for (const id of sent.keys()) {
        let r = await topUp(id);
        for (let i = 0; i < 40 && r.status === 202; i++) {
          await sleep(250);
          r = await topUp(id);
        }
        assert.equal(r.status, 200, `${id}: ${JSON.stringify(r.body)}`);
      }
      report.check('top-ups-resent-answered-200', sent.size);
    }

    // let the market close and settle every ordered period that has begun (readings go on being published)
    let running = true;
    // no new orders, and readings only up to now: no period can close after the ones waited for
    const last = Math.floor(Date.now() / PERIOD_MS);
    const drive = market(() => running, last);
    const settledPeriods: number[] = [];
    try {
      for (const p of [...ordered].filter((x) => x <= last).sort((a, b) => a - b)) {
        let st: Json = {};
        for (let i = 0; i < 120; i++) {
          st = (await http('GET', `${energy}/periods/${p}`)).body;
          if (st.settlement?.status === 'mined') break;
          await sleep(250);
        }
        assert.equal(st.settlement?.status, 'mined', `period ${p}: ${JSON.stringify(st)}`);
        settledPeriods.push(p);
      }
    } finally {
      running = false;
      await drive;
    }
    report.check('periods-settled', settledPeriods.length);

    // nothing left pending: the outbox drained, no device intent open
    let h = await health(s.http);
    for (
      let i = 0;
      i < 80 && Number(h.body.parts.outbox?.pending ?? 0) + Number(h.body.parts.outbox?.signed ?? 0) > 0;
      i++
    ) {
      await sleep(250);
      h = await health(s.http);
    }
    const file = join(dir, 'tessera.sqlite');
    const rows = await readSqlite<{ id: string; kind: string; data: string; status: string }>(
      file,
      "SELECT id, kind, data, status FROM tessera_outbox WHERE kind IN ('energy-credit.mint', 'energy-settle')",
    );
    const byStatus = (st: string) => rows.filter((r) => r.status === st).length;
    assert.equal(byStatus('pending') + byStatus('signed'), 0, 'no outbox write left pending');
    assert.equal(byStatus('failed'), 0, 'no top-up or settlement failed');
    const intents = await readSqlite<{ n: number }>(
      file,
      "SELECT COUNT(*) AS n FROM issuer_device_intents WHERE status = 'pending'",
    );
    assert.equal(intents[0]!.n, 0, 'no device intent left pending');
    report.check('nothing-pending');
    assert.equal(h.status, 200, JSON.stringify(h.body));
    for (const [part, v] of Object.entries(h.body.parts)) assert.notEqual(v.ok, false, `${part} is green`);
    const counts = await readSqlite<{ status: string; n: number }>(
      file,
      'SELECT status, COUNT(*) AS n FROM tessera_outbox GROUP BY status',
    );
    const mined = counts.find((x) => x.status === 'mined')?.n ?? 0;
    assert.equal(Number(h.body.parts.outbox?.mined ?? -1), mined, '/healthz gives the database outbox counts');
    report.check('health-truthful');

    // every acknowledged top-up exactly once, minted
    const ids = new Map<string, number>();
    for (const r of rows) ids.set(r.id, (ids.get(r.id) ?? 0) + 1);
    const missing = [...acked].filter((id) => ids.get(`energy-credit:${id}`) !== 1);
    assert.deepEqual(missing, [], 'every acknowledged top-up is recorded once');
    report.check('acknowledged-top-ups-present-once', acked.size);
    report.check('pending-answers-finished', pendingAnswers);

    // money: the supply is what the database minted; each balance is its mints less its settled bills
    const provider = makeProvider(s.chain, 31337);
    try {
      const contracts = h.body.parts.contracts as Record<string, string>;
      const credit = EnergyCredit__factory.connect(contracts.EnergyCredit!, provider);
      const iface = EnergyCredit__factory.createInterface();
      const minted = new Map<string, bigint>();
      let total = 0n;
      for (const r of rows.filter((x) => x.kind === 'energy-credit.mint')) {
        const [to, value] = iface.decodeFunctionData('mint', r.data) as unknown as [string, bigint];
        minted.set(to.toLowerCase(), (minted.get(to.toLowerCase()) ?? 0n) + value);
        total += value;
      }
      assert.equal(await credit.totalSupply(), total, 'the supply on chain is the sum of the mints in the database');
      report.check('supply-equals-database-mints');
      for (const did of participants) {
        const account = did.split(':').at(-1)!.toLowerCase();
        const hh = households.find((x) => x.key.did === did);
        let billed = 0n;
        if (hh) {
          const bills = await http('GET', `${energy}/meters/${hh.meterId}/bills`, undefined, hh.tokens.bills);
          assert.equal(bills.status, 200, JSON.stringify(bills.body));
          for (const b of bills.body.periods as { periodId: number; net: string }[]) billed += BigInt(b.net);
        }
        assert.equal(await credit.balanceOf(account), (minted.get(account) ?? 0n) - billed, `${did}: mints less bills`);
      }
      report.check('balances-equal-mints-less-bills', participants.length);
      for (const p of settledPeriods) {
        const onChain = await credit.settlementOf(p);
        assert.notEqual(onChain.bookHash, `0x${'0'.repeat(64)}`, `period ${p} is on chain`);
      }
      report.check('settlements-on-chain', settledPeriods.length);
    } finally {
      provider.destroy();
      s.child.kill('SIGKILL');
    }
  });
});
