/**
 * The energy market's whole path through the stack as `npm start` runs it, nothing given
 * directly: a manufacturer registers two meter gateways over the issuer API, each household's device agent enrols
 * and its owner commissions it, the agents authenticate on the stack's broker with the challenge handshake, the
 * households bind their gateways to their meters and place orders with their EnergyProsumer credentials, an
 * operator tops up the prepaid accounts, the gateways publish readings over MQTT, the period clears and its
 * settlement lands on chain in EnergyCredit; money and energy balance to zero. Then the refusals: no credential,
 * another person's meter, absurd amounts, a reading for another meter, a gateway that is not the holder's, a
 * top-up without the operator role, and a revoked credential.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EnergyCredit__factory, makeProvider } from '@tessera/contracts';
import { DeviceAgent, DeviceKeyStore } from '@tessera/device-agent';
import { type HolderKey, issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { ethrDid, silentLogger, topics } from '@tessera/protocol';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { type JsonRpcProvider, Wallet } from 'ethers';
import { centsPerKwh as c, METER_STREAM, NANO_EUR_PER_EUR } from '@tessera/services';
import { loadConfig } from '../config.js';
import { type RunningStack, startStack } from '../stack.js';

const PERIOD_S = 12;
let dir: string;
let stack: RunningStack;
let issuerUrl: string;
let energyUrl: string;
let admin: string;
let provider: JsonRpcProvider;
const agents: DeviceAgent[] = [];

interface Household {
  key: HolderKey;
  meterId: string;
  role: 'prosumer' | 'consumer';
  credentialId: string;
  prosumer: string;
  deviceId: string;
  agent: DeviceAgent;
  tokens: Record<string, string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function holder(type: string, claims: Record<string, unknown>, key = Wallet.createRandom()) {
  const did = ethrDid(stack.chainId, key.address);
  const r = await issuerRequest(issuerUrl, 'POST', '/credentials', {
    token: admin,
    body: { type, subject: did, claims },
  });
  assert.equal(r.status, 201, r.text);
  return { key: { did, privateKey: key.privateKey, credentials: [r.json.jwt as string] }, id: r.json.id as string };
}

/** A wallet's side: presentation request → VP of `credentials` → access token (or the coded refusal). */
async function token(key: HolderKey, credentials: string[], resource: string, action: string) {
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${stack.urls.http}/verifier${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as Record<string, any> };
  };
  const req = await post('/presentation-requests', { resource, action });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const vp = await createVerifiablePresentationJwt(
    {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: credentials,
      },
    } as never,
    { did: key.did, signer: ES256KSigner(hexToBytes(key.privateKey)), alg: 'ES256K' },
    { challenge: String(req.body.nonce), domain: String(req.body.audience) },
  );
  return post('/presentations', { vp });
}

async function call(path: string, body: unknown, bearer?: string, method = 'POST') {
  const r = await fetch(`${energyUrl}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}

async function metric(name: string, label = ''): Promise<number> {
  const text = await (await fetch(stack.urls.metrics)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${label}`) && !l.startsWith('#'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const households: Record<'alice' | 'bob', Household> = {} as never;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-energy-'));
  stack = await startStack(
    loadConfig({
      TESSERA_DATA_DIR: join(dir, 'stack'),
      TESSERA_HTTP_PORT: '0',
      TESSERA_MQTT_PORT: '0',
      TESSERA_ENERGY_PERIOD_SECONDS: String(PERIOD_S),
      TESSERA_LOG_LEVEL: 'silent',
    }),
    { log: silentLogger },
  );
  issuerUrl = `${stack.urls.http}/issuer`;
  energyUrl = `${stack.urls.http}/services/energy`;
  provider = makeProvider(stack.urls.chainRpc, stack.chainId);
  admin = await loginWithCredentials(issuerUrl, readHolderFile(stack.issuer.rootAdmin.file));

  const manufacturer = await loginWithCredentials(
    issuerUrl,
    (await holder('ManufacturerCredential', { legalName: 'Meters SA', country: 'FR', manufacturerCode: 'MTR' })).key,
  );
  for (const [name, role, meterId] of [
    ['alice', 'prosumer', 'FR-MRS-0001'],
    ['bob', 'consumer', 'FR-MRS-0002'],
  ] as const) {
    const account = Wallet.createRandom();
    const did = ethrDid(stack.chainId, account.address);
    // the manufacturer registers the household's gateway, sold to the household's DID
    const registered = await issuerRequest(issuerUrl, 'POST', '/devices/batches', {
      token: manufacturer,
      body: {
        devices: [
          {
            owner: did,
            characteristics: {
              model: 'SMGW-2000',
              serial: `MTR-${name}`,
              hardwareRevision: 'r3',
              firmwareHash: randomBytes(32).toString('hex'),
              mac: randomBytes(6).toString('hex'),
            },
          },
        ],
      },
    });
    assert.equal(registered.status, 201, registered.text);
    // the gateway enrols its provisioning file (its DID key is made on the device)
    const store = DeviceKeyStore.open(join(dir, `device-${name}`));
    const enrolled = store.enrol(registered.json.devices[0].provisioning);
    // the household: a DeviceOwnerCredential for the gateway's DID and an EnergyProsumer credential for its meter
    const owner = await holder('DeviceOwnerCredential', { device: enrolled.did }, account);
    const prosumer = await holder(
      'EnergyProsumerCredential',
      { meterId, role, ...(role === 'prosumer' ? { nameplateKw: 6 } : {}) },
      account,
    );
    const commissioned = await issuerRequest(issuerUrl, 'POST', `/devices/${enrolled.deviceId}/commission`, {
      token: await loginWithCredentials(issuerUrl, owner.key),
      body: { identity: enrolled.did },
    });
    assert.equal(commissioned.status, 200, commissioned.text);
    const { brokerUrl: _b, ...identity } = store.load();
    const agent = new DeviceAgent({
      identity,
      brokerUrl: stack.urls.mqtt,
      backoff: { initialMs: 50, maxMs: 500 },
      handshakeTimeoutMs: 10_000,
    });
    agents.push(agent);
    households[name] = {
      key: { did, privateKey: account.privateKey, credentials: [] },
      meterId,
      role,
      credentialId: prosumer.id,
      prosumer: prosumer.key.credentials[0]!,
      deviceId: enrolled.deviceId,
      agent,
      tokens: {},
    };
  }
});

after(async () => {
  for (const a of agents) await a.stop();
  provider?.destroy();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe('energy market through the stack (devices by handshake, orders by credential, settlement on chain)', () => {
  it('gateways authenticate on the stack broker with the handshake; households bind them to their meters', async () => {
    for (const h of Object.values(households)) {
      const session = once(h.agent, 'session');
      h.agent.start();
      await session;
      assert.ok(stack.devices.broker.isConnected(h.deviceId));
      for (const [resource, action] of [
        [`/energy/meters/${h.meterId}/gateway`, 'POST'],
        [`/energy/meters/${h.meterId}/orders`, 'POST'],
        [`/energy/meters/${h.meterId}/account`, 'GET'],
        [`/energy/meters/${h.meterId}/bills`, 'GET'],
      ] as const) {
        const t = await token(h.key, [h.prosumer], resource, action);
        assert.equal(t.status, 200, JSON.stringify(t.body));
        h.tokens[resource.split('/').at(-1)!] = t.body.access_token;
      }
    }
    const { alice, bob } = households;
    // alice may not bind bob's gateway to her meter: the issuer says it is not hers
    const stolen = await call(
      `/energy/meters/${alice.meterId}/gateway`,
      { deviceId: bob.deviceId },
      alice.tokens.gateway,
    );
    assert.equal(stolen.status, 403, JSON.stringify(stolen.body));
    assert.equal(stolen.body.error.code, 'ERR_FORBIDDEN');
    const malformed = await call(`/energy/meters/${alice.meterId}/gateway`, { deviceId: 'gw-1' }, alice.tokens.gateway);
    assert.equal(malformed.body.error.code, 'ERR_VALIDATION');
    for (const h of [alice, bob]) {
      const bound = await call(`/energy/meters/${h.meterId}/gateway`, { deviceId: h.deviceId }, h.tokens.gateway);
      assert.equal(bound.status, 200, JSON.stringify(bound.body));
      assert.equal(bound.body.participant, h.key.did);
    }
    assert.equal(bob.tokens.gateway !== undefined, true);
  });

  it('an operator tops up the prepaid accounts; nobody else can', async () => {
    const { alice, bob } = households;
    const operator = await holder('OperatorCredential', { name: 'Market operator' });
    const op = await token(operator.key, operator.key.credentials, '/energy/credits', 'POST');
    assert.equal(op.status, 200, JSON.stringify(op.body));
    const notOperator = await token(bob.key, [bob.prosumer], '/energy/credits', 'POST');
    assert.equal(notOperator.status, 403, JSON.stringify(notOperator.body));
    for (const h of [alice, bob]) {
      const r = await call(
        '/energy/credits',
        { requestId: `top-up-${h.meterId}`, participant: h.key.did, amountNanoEur: String(50n * NANO_EUR_PER_EUR) },
        op.body.access_token,
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    // the same request id never mints twice
    const again = await call(
      '/energy/credits',
      { requestId: `top-up-${bob.meterId}`, participant: bob.key.did, amountNanoEur: String(50n * NANO_EUR_PER_EUR) },
      op.body.access_token,
    );
    assert.equal(again.status, 200);
    const tooMuch = await call(
      '/energy/credits',
      { requestId: 'top-up-absurd', participant: bob.key.did, amountNanoEur: String(10n ** 20n) },
      op.body.access_token,
    );
    assert.equal(tooMuch.body.error.code, 'ERR_MARKET_AMOUNT_OUT_OF_RANGE');
    const account = await call(`/energy/meters/${bob.meterId}/account`, undefined, bob.tokens.account, 'GET');
    assert.equal(account.status, 200, JSON.stringify(account.body));
    assert.equal(account.body.balanceNanoEur, String(50n * NANO_EUR_PER_EUR));
  });

  it('orders, readings over MQTT, clearing, settlement on chain; money and energy balance to zero', async () => {
    const { alice, bob } = households;
    const market = stack.services.energy.market;
    const period = market.currentPeriod() + 1;
    const order = (h: Household, body: Record<string, unknown>) =>
      call(`/energy/meters/${h.meterId}/orders`, { periodId: period, ...body }, h.tokens.orders);
    assert.equal((await order(alice, { id: 'a1', side: 'offer', energyWh: 12, limitPrice: c(7) })).status, 201);
    assert.equal((await order(bob, { id: 'b1', side: 'bid', energyWh: 14, limitPrice: c(21) })).status, 201);
    // refused: a consumer selling, absurd amounts, another person's meter, no token
    assert.equal(
      (await order(bob, { id: 'b2', side: 'offer', energyWh: 5, limitPrice: c(5) })).body.error.code,
      'ERR_POLICY_DENIED',
    );
    assert.equal(
      (await order(bob, { id: 'b3', side: 'bid', energyWh: -5, limitPrice: c(5) })).body.error.code,
      'ERR_MARKET_AMOUNT_OUT_OF_RANGE',
    );
    assert.equal(
      (await order(bob, { id: 'b4', side: 'bid', energyWh: 1e15, limitPrice: c(5) })).body.error.code,
      'ERR_MARKET_AMOUNT_OUT_OF_RANGE',
    );
    const other = await call(
      `/energy/meters/${alice.meterId}/orders`,
      { id: 'x', side: 'bid', energyWh: 1, limitPrice: c(5) },
      bob.tokens.orders,
    );
    assert.equal(other.body.error.code, 'ERR_FORBIDDEN');
    const none = await call(`/energy/meters/${alice.meterId}/orders`, { id: 'y', side: 'bid', energyWh: 1 });
    assert.equal(none.body.error.code, 'ERR_AUTH_REQUIRED');

    // once the period trades, each gateway publishes its own meter's reading; alice's also tries bob's meter
    while (market.currentPeriod() < period) await sleep(200);
    const refusedBefore = await metric('tessera_energy_refusals_total', '{code="ERR_TOPIC_FORBIDDEN"}');
    const reading = (meterId: string, consumedWh: number, producedWh: number) =>
      JSON.stringify({ meterId, periodId: period, consumedWh, producedWh });
    await alice.agent.publish(topics.telemetry(alice.deviceId, METER_STREAM), reading(bob.meterId, 0, 0));
    await alice.agent.publish(topics.telemetry(alice.deviceId, METER_STREAM), reading(alice.meterId, 1, 15));
    await bob.agent.publish(topics.telemetry(bob.deviceId, METER_STREAM), reading(bob.meterId, 16, 0));
    for (let i = 0; i < 50; i++) {
      if ((await metric('tessera_energy_refusals_total', '{code="ERR_TOPIC_FORBIDDEN"}')) > refusedBefore) break;
      await sleep(100);
    }
    assert.equal(await metric('tessera_energy_refusals_total', '{code="ERR_TOPIC_FORBIDDEN"}'), refusedBefore + 1);

    const credit = EnergyCredit__factory.connect(stack.contracts.EnergyCredit, provider);
    const accounts = [alice, bob].map((h) => h.key.did.split(':').at(-1)!);
    const before = await Promise.all(accounts.map((a) => credit.balanceOf(a)));
    while (market.currentPeriod() <= period) await sleep(200);
    const closed = await market.closePeriod(period);
    assert.ok(closed.ok, closed.ok ? '' : `${closed.error.code}: ${closed.error.message}`);
    assert.equal(closed.value.closed.clearing.volumeWh, 12);

    // the settlement lands on chain through the outbox
    let settled: Record<string, any> = {};
    for (let i = 0; i < 100; i++) {
      settled = (await call(`/energy/periods/${period}`, undefined, undefined, 'GET')).body;
      if (settled.settlement?.status === 'mined') break;
      await sleep(200);
    }
    assert.equal(settled.settlement?.status, 'mined', JSON.stringify(settled));
    const onChain = await credit.settlementOf(period);
    assert.equal(onChain.bookHash, closed.value.closed.bookHash);
    const afterBalances = await Promise.all(accounts.map((a) => credit.balanceOf(a)));
    const s = closed.value.settlement;
    for (const [i, h] of [alice, bob].entries()) {
      const bill = s.bills.find((b) => b.participant === h.key.did)!;
      assert.equal(afterBalances[i]! - before[i]!, -bill.net, `${h.meterId} paid its bill on chain`);
    }
    assert.equal(
      s.bills.reduce((a, b) => a + b.net, 0n),
      s.grid.received - s.grid.paid,
      'money balances to zero across participants and the grid',
    );
    assert.equal(
      s.bills.reduce((a, b) => a + b.consumedWh - b.producedWh, 0),
      s.grid.importWh - s.grid.exportWh,
      'energy balances to zero',
    );
    // the household's bills: this period, and the month it falls in
    const bills = await call(`/energy/meters/${bob.meterId}/bills`, undefined, bob.tokens.bills, 'GET');
    assert.equal(bills.status, 200, JSON.stringify(bills.body));
    const bobBill = s.bills.find((b) => b.participant === bob.key.did)!;
    assert.deepEqual(
      bills.body.periods.map((b: { periodId: number; net: string }) => [b.periodId, b.net]),
      [[period, bobBill.net.toString()]],
    );
    assert.equal(bills.body.months.length, 1);
    assert.equal(bills.body.months[0].net, bobBill.net.toString());
    assert.ok((await metric('tessera_chain_transactions_total', '{sender="relayer"}')) > 0);
    assert.ok((await metric('tessera_energy_periods_closed_total')) >= 1);
  });

  it('a revoked credential stops trading at once', async () => {
    const { bob } = households;
    const operator = await holder('OperatorCredential', { name: 'Issuer operator' });
    const revoked = await issuerRequest(issuerUrl, 'POST', `/credentials/${bob.credentialId}/revoke`, {
      token: await loginWithCredentials(issuerUrl, operator.key),
      body: {},
    });
    assert.equal(revoked.status, 200, revoked.text);
    let r = { status: 0, body: {} as Record<string, any> };
    for (let i = 0; i < 50; i++) {
      r = await call(
        `/energy/meters/${bob.meterId}/orders`,
        { id: 'after-revoke', side: 'bid', energyWh: 1, limitPrice: c(5) },
        bob.tokens.orders,
      );
      if (r.status === 401) break;
      await sleep(100);
    }
    assert.equal(r.body.error?.code, 'ERR_VC_REVOKED', JSON.stringify(r.body));
  });
});
