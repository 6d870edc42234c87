/**
 * A request built from the published OpenAPI documents alone is accepted by the running stack: for every credential
 * type, the issuer's IssueRequest with the fewest and with all claims; the energy market's top-up. Requests are built
 * from the schemas (their examples, constants, enums, formats, bounds and the either-or rules they state), checked
 * against the schema with a JSON Schema validator, then sent. The other way round too: what the schema says is invalid
 * (both `lei` and `registrationId` missing, a producer without nameplate, a fractional investment limit, a 7-character
 * request id) the server refuses. The stack's merged document at `/openapi.json` is a valid OpenAPI 3.1 document holding
 * every part's paths under its mount point, and `/docs/` renders it with assets served locally under a strict CSP.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CREDENTIAL_TYPE_NAMES, ethrDid, silentLogger } from '@tessera/protocol';
import { issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { Wallet } from 'ethers';
import { loadConfig } from '../config.js';
import { type RunningStack, startStack } from '../stack.js';

type Schema = Record<string, unknown>;
type Doc = { components: { schemas: Record<string, Schema> } };

let dir: string;
let stack: RunningStack;
let issuerUrl: string;
let admin: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-openapi-requests-'));
  stack = await startStack(
    loadConfig({ TESSERA_DATA_DIR: join(dir, 'stack'), TESSERA_HTTP_PORT: '0', TESSERA_MQTT_PORT: '0' }),
    { log: silentLogger },
  );
  issuerUrl = `${stack.urls.http}/issuer`;
  admin = await loginWithCredentials(issuerUrl, readHolderFile(stack.issuer.rootAdmin.file));
});
after(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * An instance of `schema` from what the schema itself says: its first example, else its constant, first enum value,
 * format or bounds; objects get their required properties (all of them with `full`), and the either-or rules of
 * anyOf / oneOf / allOf / if-then-else are followed. A string with a pattern and no example is an error: the schema
 * would not say how to meet it.
 */
function build(schema: Schema, doc: Doc, full: boolean, path = '$'): unknown {
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = doc.components.schemas[name];
    assert.ok(target, `${path}: $ref ${schema.$ref} resolves`);
    return build(target, doc, full, path);
  }
  // a value's example (an object's example only documents: its properties are built one by one)
  if (schema.type !== 'object' && Array.isArray(schema.examples) && schema.examples.length > 0)
    return structuredClone(schema.examples[0]);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const variants = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
  if (variants && schema.type === undefined && schema.properties === undefined)
    return build(variants[0]!, doc, full, `${path}/0`);
  switch (schema.type) {
    case 'string': {
      if (schema.format === 'email') return 'someone@example.org';
      if (schema.format === 'date-time') return new Date().toISOString();
      if (schema.format === 'date') return new Date().toISOString().slice(0, 10);
      assert.equal(schema.pattern, undefined, `${path}: a pattern (${schema.pattern}) without an example`);
      return 'x'.repeat(Math.max(1, Number(schema.minLength ?? 1)));
    }
    case 'integer':
    case 'number': {
      if (typeof schema.minimum === 'number') return Math.max(schema.minimum, schema.type === 'integer' ? 1 : 0.5);
      if (typeof schema.exclusiveMinimum === 'number') return schema.exclusiveMinimum + 1;
      return 1;
    }
    case 'boolean':
      return true;
    case 'array': {
      const n = Math.max(1, Number(schema.minItems ?? 1));
      return Array.from({ length: n }, (_, i) => build(schema.items as Schema, doc, full, `${path}[${i}]`));
    }
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      const required = new Set((schema.required ?? []) as string[]);
      // either-or rules: take what the first branch of each anyOf requires, and the branch of an if that applies
      const rules = [schema, ...((schema.allOf ?? []) as Schema[])];
      for (const r of rules)
        for (const k of ((r.anyOf as Schema[] | undefined)?.[0]?.required ?? []) as string[]) required.add(k);
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(props))
        if (full || required.has(k)) out[k] = build(props[k]!, doc, full, `${path}.${k}`);
      for (const r of rules) {
        const branch = (r.anyOf as Schema[] | undefined)?.[0]?.properties as Record<string, Schema> | undefined;
        for (const [k, v] of Object.entries(branch ?? {})) if ('const' in v) out[k] = v.const;
      }
      if (schema.if) {
        const cond = (schema.if as Schema).properties as Record<string, Schema>;
        const holds = Object.entries(cond).every(([k, v]) => out[k] === v.const);
        const then = (holds ? schema.then : schema.else) as Schema | undefined;
        for (const k of (then?.required ?? []) as string[]) out[k] ??= build(props[k]!, doc, full, `${path}.${k}`);
        for (const [k, v] of Object.entries((then?.properties ?? {}) as Record<string, Schema>))
          if (typeof v.exclusiveMinimum === 'number' && !((out[k] as number) > v.exclusiveMinimum))
            out[k] = v.exclusiveMinimum + 1;
      }
      return out;
    }
    default:
      assert.fail(`${path}: cannot build an instance of ${JSON.stringify(schema).slice(0, 200)}`);
  }
}

/** A JSON Schema validator over the whole document (OpenAPI 3.1 schemas are JSON Schema 2020-12). */
function validator(doc: Doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: 'doc', components: doc.components });
  return (name: string, value: unknown) => {
    const check = ajv.compile({ $ref: `doc#/components/schemas/${name}` });
    return check(value) ? undefined : JSON.stringify(check.errors);
  };
}

async function published(url: string): Promise<Doc> {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  return (await r.json()) as Doc;
}

describe('requests built from the published schemas', () => {
  it('every credential type: the issuer accepts IssueRequests with the fewest and with all claims', async () => {
    const doc = await published(`${issuerUrl}/openapi.json`);
    const valid = validator(doc);
    const schemas = doc.components.schemas;
    assert.ok(schemas.IssueRequest, 'IssueRequest is published');
    for (const type of CREDENTIAL_TYPE_NAMES) {
      for (const full of [false, true]) {
        const variant = `IssueRequest${type}`;
        const body = build(schemas[variant]!, doc, full) as Record<string, unknown>;
        body.subject = ethrDid(stack.chainId, Wallet.createRandom().address);
        assert.equal(valid(variant, body), undefined, `${type}: the built request meets its schema`);
        assert.equal(valid('IssueRequest', body), undefined, `${type}: and the IssueRequest union`);
        const r = await issuerRequest(issuerUrl, 'POST', '/credentials', { token: admin, body });
        assert.equal(
          r.status,
          201,
          `${type} (${full ? 'all claims' : 'fewest claims'}) ${JSON.stringify(body)}: ${r.text}`,
        );
      }
    }
  });

  it('what the schema refuses the issuer refuses too, with the rule named', async () => {
    const doc = await published(`${issuerUrl}/openapi.json`);
    const valid = validator(doc);
    const subject = ethrDid(stack.chainId, Wallet.createRandom().address);
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        'DataPartnerCredential',
        { organisationName: 'Grid Data Ltd', dataspace: 'energy-ds' },
        /either lei or registrationId/,
      ],
      [
        'OfferingIssuerCredential',
        { legalName: 'Solaire SAS', jurisdiction: 'FR', lei: '506700GE1G29325QX364' },
        /LEI/,
      ],
      ['EnergyProsumerCredential', { meterId: 'DE000123', role: 'producer' }, /nameplateKw > 0/],
      [
        'AccreditedInvestorCredential',
        {
          jurisdiction: 'FR',
          investorType: 'individual',
          accreditationLevel: 'accredited',
          kycLevel: 'basic',
          investmentLimit: { amount: 1000.5, currency: 'EUR' },
        },
        /investmentLimit\.amount/,
      ],
      ['ManufacturerCredential', { legalName: 'Acme', country: 'XX', manufacturerCode: 'ACME' }, /country/],
    ];
    for (const [type, claims, why] of cases) {
      const body = { type, subject, claims };
      // the LEI's check digits are the one rule JSON Schema cannot state: its description does
      if (!why.source.includes('LEI'))
        assert.notEqual(
          valid(`IssueRequest${type}`, body),
          undefined,
          `${type}: the schema refuses ${JSON.stringify(claims)}`,
        );
      const r = await issuerRequest(issuerUrl, 'POST', '/credentials', { token: admin, body });
      assert.equal(r.json?.error?.code, 'ERR_VC_CLAIMS_INVALID', r.text);
      assert.match(r.json.error.message, why);
    }
  });

  it('the energy market accepts a top-up built from its schema, and refuses a 7-character request id', async () => {
    const energy = `${stack.urls.http}/services/energy`;
    const doc = await published(`${energy}/energy/openapi.json`);
    const valid = validator(doc);
    // an operator's access token for the route, from the verifier (presentation request → VP → token)
    const key = Wallet.createRandom();
    const did = ethrDid(stack.chainId, key.address);
    const vc = await issuerRequest(issuerUrl, 'POST', '/credentials', {
      token: admin,
      body: { type: 'OperatorCredential', subject: did, claims: { name: 'Market operator' } },
    });
    assert.equal(vc.status, 201, vc.text);
    const verifier = async (path: string, body: unknown) =>
      (await fetch(`${stack.urls.http}/verifier${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => r.json())) as Record<string, string>;
    const request = await verifier('/presentation-requests', { resource: '/energy/credits', action: 'POST' });
    const vp = await createVerifiablePresentationJwt(
      {
        vp: {
          '@context': ['https://www.w3.org/2018/credentials/v1'],
          type: ['VerifiablePresentation'],
          verifiableCredential: [vc.json.jwt],
        },
      } as never,
      { did, signer: ES256KSigner(hexToBytes(key.privateKey)), alg: 'ES256K' },
      { challenge: String(request.nonce), domain: String(request.audience) },
    );
    const token = (await verifier('/presentations', { vp })).access_token;
    assert.ok(token, 'an operator token');
    const topUp = async (body: unknown) => {
      const r = await fetch(`${energy}/energy/credits`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      return { status: r.status, json: (await r.json()) as { error?: { code: string; message: string } } };
    };

    const body = build(doc.components.schemas.TopUpBody!, doc, true) as Record<string, string>;
    body.participant = ethrDid(stack.chainId, Wallet.createRandom().address);
    assert.equal(valid('TopUpBody', body), undefined);
    const ok = await topUp(body);
    assert.equal(ok.status, 200, JSON.stringify(ok.json));

    const short = { ...body, requestId: 'top-7ch' };
    assert.notEqual(valid('TopUpBody', short), undefined, 'the schema says 8 characters at least');
    const refused = await topUp(short);
    assert.equal(refused.json.error?.code, 'ERR_VALIDATION');
    assert.match(refused.json.error!.message, /requestId: must be 8 to 100/);
  });
});

describe("the stack's one OpenAPI document and its page", () => {
  it('/openapi.json is valid OpenAPI 3.1 with every part under its mount point, each part its own tag', async () => {
    const r = await fetch(`${stack.urls.http}/openapi.json`);
    assert.equal(r.status, 200);
    const doc = (await r.json()) as {
      openapi: string;
      servers: { url: string }[];
      tags: { name: string }[];
      paths: Record<string, Record<string, { tags?: string[]; requestBody?: unknown }>>;
      components: { schemas: Record<string, unknown> };
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.servers[0]?.url, stack.urls.http);
    // a validator that knows OpenAPI 3.1 (its JSON Schema 2020-12 dialect), and every $ref resolves
    await SwaggerParser.validate(structuredClone(doc) as never);
    assert.deepEqual(
      doc.tags.map((t) => t.name),
      ['issuer', 'verifier', 'offerings', 'energy', 'exchange', 'whiteflag'],
    );
    for (const [path, tag] of [
      ['/issuer/credentials', 'issuer'],
      ['/verifier/presentations', 'verifier'],
      ['/verifier/oid4vp/requests', 'verifier'],
      ['/services/offerings/{offeringId}/allocation', 'offerings'],
      ['/services/energy/energy/credits', 'energy'],
      ['/services/whiteflag/whiteflag/statements/{address}', 'whiteflag'],
    ] as const) {
      const ops = Object.values(doc.paths[path] ?? {});
      assert.ok(ops.length > 0, `${path} is documented`);
      assert.ok(
        ops.every((op) => op.tags?.[0] === tag),
        `${path} is tagged ${tag}`,
      );
    }
    assert.ok(Object.keys(doc.paths).some((p) => p.startsWith('/services/exchange/')));
    // the verifier's body schema is the one its router validates with: what it refuses the schema refuses too
    const valid = validator(doc as unknown as Doc);
    assert.equal(valid('PresentationRequestBody', { resource: '/energy/credits', action: 'POST' }), undefined);
    assert.notEqual(valid('PresentationRequestBody', { resource: '/energy/credits', action: 'PO ST' }), undefined);
    const refused = await fetch(`${stack.urls.http}/verifier/presentation-requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resource: '/energy/credits', action: 'PO ST' }),
    });
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'ERR_VALIDATION');
  });

  it('/docs/ renders the document with Swagger UI served from the stack, under a strict CSP', async () => {
    const moved = await fetch(`${stack.urls.http}/docs`, { redirect: 'manual' });
    assert.equal(moved.status, 301);
    const page = await fetch(`${stack.urls.http}/docs/`);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    const html = await page.text();
    assert.doesNotMatch(html, /<script>|https?:\/\//, 'no inline script, nothing from another origin');
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.deepEqual(assets.sort(), ['favicon-32x32.png', 'init.js', 'swagger-ui-bundle.js', 'swagger-ui.css']);
    for (const asset of assets) {
      const a = await fetch(new URL(asset, `${stack.urls.http}/docs/`));
      assert.equal(a.status, 200, asset);
      assert.ok((await a.arrayBuffer()).byteLength > 0, asset);
    }
    const init = await (await fetch(`${stack.urls.http}/docs/init.js`)).text();
    assert.match(init, /\.\.\/openapi\.json/);
  });
});
