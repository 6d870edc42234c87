import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseTrustList, type TrustList } from '../vc/trust.js';
import type { VerifiedCredential } from '../vc/verify.js';
import { PolicyEngine, type PolicyDenial } from './engine.js';
import { type PolicySet, parsePolicySet } from '@tessera/protocol';
import { loadPolicyFile } from './load.js';

const DEFAULT_POLICY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'policies', 'default.json');
const CERTIFIER = 'did:ethr:0x7a69:0x1111111111111111111111111111111111111111';
const OTHER = 'did:ethr:0x7a69:0x2222222222222222222222222222222222222222';
const HOLDER = 'did:ethr:0x7a69:0x3333333333333333333333333333333333333333';
const NOW = 1_800_000_000_000;

const trusted = parseTrustList({
  EnergyProsumerCredential: [CERTIFIER],
  AccreditedInvestorCredential: [CERTIFIER],
  DataPartnerCredential: [CERTIFIER],
});
assert.ok(trusted.ok);
const trust: TrustList = trusted.value;

const vc = (
  type: string,
  claims: Record<string, unknown>,
  o: Partial<VerifiedCredential> = {},
): VerifiedCredential => ({
  jwt: 'x.y.z',
  issuer: CERTIFIER,
  subject: HOLDER,
  types: [type],
  claims,
  expiresAt: NOW / 1000 + 3600,
  status: [],
  ...o,
});
const prosumer = (meterId: string, role = 'prosumer') =>
  vc('EnergyProsumerCredential', { meterId, role, nameplateKw: 6 });
const investor = (jurisdiction: string, kycLevel = 'standard') =>
  vc('AccreditedInvestorCredential', {
    jurisdiction,
    kycLevel,
    investorType: 'individual',
    accreditationLevel: 'accredited',
  });
const partner = (dataspace = 'tessera') => vc('DataPartnerCredential', { organisationName: 'Acme', dataspace });

function loadDefault(): PolicyEngine {
  const set = loadPolicyFile(DEFAULT_POLICY);
  assert.ok(set.ok, JSON.stringify(!set.ok && set.error));
  return new PolicyEngine(set.value, { trust, now: () => NOW });
}

function denied(r: ReturnType<PolicyEngine['evaluate']>): PolicyDenial & { message: string } {
  assert.equal(r.ok, false, 'expected a refusal');
  if (r.ok) throw new Error('unreachable');
  assert.equal(r.error.code, 'ERR_POLICY_DENIED');
  return { ...(r.error.details as PolicyDenial), message: r.error.message };
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('policy engine with the default policy file (three services)', () => {
  const engine = loadDefault();

  it('grants an energy order for meter M to the holder of an EnergyProsumerCredential for M', () => {
    const r = engine.evaluate({ resource: '/energy/meters/DE0001/orders', action: 'POST' }, [prosumer('DE0001')]);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.value.policies, ['energy.order.place']);
    assert.equal(r.value.params.meterId, 'DE0001');
    assert.deepEqual(r.value.satisfiedBy, [{ policy: 'energy.order.place', requirement: 0, credential: 0 }]);
  });

  it("asks for an EnergyProsumer credential's role on orders and gateway bindings (only producers sell)", () => {
    for (const [resource, action] of [
      ['/energy/meters/DE0001/orders', 'POST'],
      ['/energy/meters/DE0001/gateway', 'POST'],
    ] as const) {
      const [req] = engine.requirementsFor(resource, action);
      assert.deepEqual(
        req?.claims.map((c) => c.claim),
        ['meterId', 'role'],
      );
    }
  });

  it('asks a device owner for the device claim when commissioning (an SD-JWT VC discloses only what is asked)', () => {
    const req = engine
      .requirementsFor('/issuer/devices/0xabc/commission', 'POST')
      .find((r) => r.credentialType === 'DeviceOwnerCredential');
    assert.deepEqual(req?.claims, [{ claim: 'device', exists: true }]);
    const set = loadPolicyFile(DEFAULT_POLICY);
    const owners = parseTrustList({ DeviceOwnerCredential: [CERTIFIER] });
    assert.ok(set.ok && owners.ok);
    const issuerSide = new PolicyEngine(set.value, { trust: owners.value, now: () => NOW });
    const at = { resource: '/issuer/devices/0xabc/commission', action: 'POST' };
    const owner = vc('DeviceOwnerCredential', { device: 'did:ethr:0x7a69:0x4444444444444444444444444444444444444444' });
    const granted = issuerSide.evaluate(at, [owner]);
    assert.ok(granted.ok, JSON.stringify(granted));
    assert.equal(denied(issuerSide.evaluate(at, [vc('DeviceOwnerCredential', {})])).claim, 'device');
  });

  it('refuses an energy order for another meter, naming the claim and the route parameter', () => {
    const d = denied(
      engine.evaluate({ resource: '/energy/meters/DE0002/orders', action: 'POST' }, [prosumer('DE0001')]),
    );
    assert.equal(d.reason, 'claim-mismatch');
    assert.equal(d.policy, 'energy.order.place');
    assert.equal(d.requirement, 0);
    assert.equal(d.claim, 'meterId');
    assert.match(d.message, /meterId must equal the request's meterId \(DE0002\)/);
  });

  it('refuses a credential type the policy does not accept, saying which type is missing', () => {
    const d = denied(engine.evaluate({ resource: '/energy/meters/DE0001/orders', action: 'POST' }, [partner()]));
    assert.equal(d.reason, 'missing-credential');
    assert.equal(d.credentialType, 'EnergyProsumerCredential');
  });

  it('lets one presentation satisfy with any of its credentials', () => {
    const r = engine.evaluate({ resource: '/energy/meters/DE0009/orders', action: 'POST' }, [
      partner(),
      prosumer('DE0001'),
      prosumer('DE0009'),
    ]);
    assert.ok(r.ok);
    assert.equal(r.value.satisfiedBy[0]?.credential, 2);
  });

  it('gates MQTT topics with the same model: only producers publish offers', () => {
    assert.ok(
      engine.evaluate({ resource: 'tessera/v1/energy/DE0001/offers', action: 'publish' }, [prosumer('DE0001')]).ok,
    );
    const d = denied(
      engine.evaluate({ resource: 'tessera/v1/energy/DE0001/offers', action: 'publish' }, [
        prosumer('DE0001', 'consumer'),
      ]),
    );
    assert.equal(d.claim, 'role');
    assert.equal(
      denied(engine.evaluate({ resource: 'tessera/v1/energy/DE0001/offers', action: 'subscribe' }, [])).reason,
      'no-policy',
    );
  });

  it('grants a token-offering subscription only in an allowed jurisdiction', () => {
    const req = { resource: '/offerings/green-bond-2027/subscriptions', action: 'POST' };
    assert.ok(engine.evaluate(req, [investor('FR')]).ok);
    const d = denied(engine.evaluate(req, [investor('US')]));
    assert.equal(d.reason, 'claim-mismatch');
    assert.equal(d.claim, 'jurisdiction');
    assert.equal(denied(engine.evaluate(req, [investor('DE', 'basic')])).claim, 'kycLevel');
    // the offering decides on the accreditation level too: an SD-JWT VC that keeps it back does not subscribe
    const { accreditationLevel: _kept, ...hidden } = investor('FR').claims;
    assert.equal(denied(engine.evaluate(req, [{ ...investor('FR'), claims: hidden }])).claim, 'accreditationLevel');
  });

  it('refuses an expired investor credential and one from an untrusted certifier', () => {
    const req = { resource: '/offerings/green-bond-2027/subscriptions', action: 'POST' };
    const expired = { ...investor('FR'), expiresAt: NOW / 1000 - 1 };
    assert.equal(denied(engine.evaluate(req, [expired])).reason, 'expired');
    const untrusted = { ...investor('FR'), issuer: OTHER };
    assert.equal(denied(engine.evaluate(req, [untrusted])).reason, 'untrusted-issuer');
  });

  it('requires a DataPartnerCredential of the Tessera data space for every data-exchange call', () => {
    for (const [resource, action] of [
      ['/data/exchanges', 'POST'],
      ['/data/exchanges/ex-1/answers', 'POST'],
      ['/data/consents/c-9', 'DELETE'],
    ] as const) {
      assert.ok(engine.evaluate({ resource, action }, [partner()]).ok, `${action} ${resource}`);
      assert.equal(denied(engine.evaluate({ resource, action }, [partner('other')])).claim, 'dataspace');
      assert.equal(denied(engine.evaluate({ resource, action }, [prosumer('DE0001')])).reason, 'missing-credential');
    }
  });

  it('denies by default what no policy covers', () => {
    const d = denied(engine.evaluate({ resource: '/admin/devices', action: 'POST' }, [prosumer('DE0001')]));
    assert.equal(d.reason, 'no-policy');
    assert.equal(
      denied(engine.evaluate({ resource: '/energy/meters/DE1/orders/extra', action: 'POST' }, [])).reason,
      'no-policy',
    );
  });

  it('tells a presentation request what a resource needs', () => {
    const needs = engine.requirementsFor('/offerings/x/subscriptions', 'post');
    assert.deepEqual(
      needs.map((r) => r.credentialType),
      ['AccreditedInvestorCredential'],
    );
  });
});

describe('policy engine semantics', () => {
  const base = (policies: unknown[]): PolicySet => {
    const r = parsePolicySet({ version: 1, policies });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    return r.value;
  };

  it('requires every matching policy (deny overrides) and every requirement of each', () => {
    const set = base([
      { id: 'a', resource: '/x/:id', actions: ['*'], require: [{ credentialType: 'DataPartnerCredential' }] },
      {
        id: 'b',
        resource: '/x/*',
        actions: ['GET'],
        require: [
          { credentialType: 'DataPartnerCredential' },
          { credentialType: 'AccreditedInvestorCredential', claims: [{ claim: 'limit.amount', atLeast: 1000 }] },
        ],
      },
    ]);
    const engine = new PolicyEngine(set, { trust, now: () => NOW });
    assert.ok(engine.evaluate({ resource: '/x/1', action: 'POST' }, [partner()]).ok, 'only a applies to POST');
    const d = denied(engine.evaluate({ resource: '/x/1', action: 'GET' }, [partner()]));
    assert.deepEqual([d.policy, d.requirement, d.reason], ['b', 1, 'missing-credential']);
    const rich = vc('AccreditedInvestorCredential', { limit: { amount: 5000 } });
    const poor = vc('AccreditedInvestorCredential', { limit: { amount: 10 } });
    assert.ok(engine.evaluate({ resource: '/x/1', action: 'GET' }, [partner(), rich]).ok);
    assert.equal(denied(engine.evaluate({ resource: '/x/1', action: 'GET' }, [partner(), poor])).claim, 'limit.amount');
  });

  it('restricts to named issuers when a requirement lists them, and can waive trust-list and expiry checks', () => {
    const set = base([
      {
        id: 'named',
        resource: '/n',
        actions: ['GET'],
        require: [
          { credentialType: 'DataPartnerCredential', issuers: [OTHER], trustedIssuer: false, notExpired: false },
        ],
      },
    ]);
    const engine = new PolicyEngine(set, { trust, now: () => NOW });
    assert.equal(denied(engine.evaluate({ resource: '/n', action: 'GET' }, [partner()])).reason, 'issuer-not-allowed');
    const fromOther = {
      ...partner(),
      issuer: OTHER.toUpperCase().replace('DID:ETHR:0X7A69', 'did:ethr:0x7a69'),
      expiresAt: 1,
    };
    assert.ok(engine.evaluate({ resource: '/n', action: 'GET' }, [fromOther]).ok);
  });

  it('takes parameters from the request when the pattern does not capture them, the route winning on conflict', () => {
    const set = base([
      {
        id: 'p',
        resource: '/offerings/:offeringId/subscriptions',
        actions: ['POST'],
        require: [
          {
            credentialType: 'AccreditedInvestorCredential',
            claims: [{ claim: 'offering', equalsParam: 'offeringId' }],
          },
        ],
      },
    ]);
    const engine = new PolicyEngine(set, { trust, now: () => NOW });
    const cred = vc('AccreditedInvestorCredential', { offering: 'bond-1' });
    assert.ok(
      engine.evaluate({ resource: '/offerings/bond-1/subscriptions', action: 'POST', params: { offeringId: 'x' } }, [
        cred,
      ]).ok,
    );
    assert.ok(
      !engine.evaluate(
        { resource: '/offerings/bond-2/subscriptions', action: 'POST', params: { offeringId: 'bond-1' } },
        [cred],
      ).ok,
    );
  });
});

describe('policy files are validated at load', () => {
  it('lists every problem of an invalid file with its path, as ERR_POLICY_INVALID', () => {
    const r = parsePolicySet({
      version: 1,
      policies: [
        {
          id: 'Energy Order',
          resource: '/energy/meters/:meterId/orders',
          actions: ['POST'],
          require: [{ credentialType: 'EnergyProsumer', claims: [{ claim: 'meterId', equalsParam: 'meter' }] }],
        },
        { id: 'ok', resource: '/a/**/b', actions: [], require: [] },
        {
          id: 'ok',
          resource: '/c',
          actions: ['GET'],
          require: [{ credentialType: 'DataPartnerCredential', claims: [{ claim: 'x', between: [1, 2] }] }],
        },
      ],
    });
    assert.ok(!r.ok);
    assert.equal(r.error.code, 'ERR_POLICY_INVALID');
    const paths = (r.error.details as Array<{ path: string }>).map((p) => p.path);
    assert.ok(paths.includes('policies.0.id'), paths.join());
    assert.ok(paths.includes('policies.0.require.0.credentialType'), paths.join());
    assert.ok(paths.includes('policies.1.actions'), paths.join());
    assert.ok(paths.includes('policies.1.require'), paths.join());
    assert.ok(paths.includes('policies.2.require.0.claims.0'), paths.join());
    assert.match(r.error.message, /EnergyProsumerCredential/, 'says which types exist');
  });

  it('reports semantic problems: unknown route parameter, misplaced **, duplicate ids', () => {
    const r = parsePolicySet({
      version: 1,
      policies: [
        {
          id: 'a',
          resource: '/energy/meters/:meterId/orders',
          actions: ['POST'],
          require: [
            { credentialType: 'EnergyProsumerCredential', claims: [{ claim: 'meterId', equalsParam: 'meter' }] },
          ],
        },
        { id: 'a', resource: '/a/**/b', actions: ['GET'], require: [{ credentialType: 'DataPartnerCredential' }] },
      ],
    });
    assert.ok(!r.ok);
    const problems = r.error.details as Array<{ path: string; message: string }>;
    assert.deepEqual(
      problems.map((p) => p.path),
      ['policies.0.require.0.claims.0.equalsParam', 'policies.1.id', 'policies.1.resource'],
    );
    assert.match(problems[0]!.message, /'meter' is not a parameter .* \(has: meterId\)/);
  });

  it('refuses a missing file and a file that is not JSON with ERR_POLICY_INVALID', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-policy-'));
    dirs.push(dir);
    const missing = loadPolicyFile(join(dir, 'nope.json'));
    assert.ok(!missing.ok && missing.error.code === 'ERR_POLICY_INVALID');
    writeFileSync(join(dir, 'bad.json'), '{ "version": 1, ');
    const bad = loadPolicyFile(join(dir, 'bad.json'));
    assert.ok(!bad.ok && bad.error.code === 'ERR_POLICY_INVALID' && /not JSON/.test(bad.error.message));
  });
});
