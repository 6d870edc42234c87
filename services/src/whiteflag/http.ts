import {
  type ErrorCode,
  EVM_ADDRESS_PATTERN,
  type Logger,
  type Result,
  silentLogger,
  TesseraError,
  GUARD_ERRORS,
} from '@tessera/protocol';
import { notation, type WhiteflagMessage } from '@tessera/protocol/whiteflag';
import { attachOpenApi, errorHandler, HttpApi, jsonBody } from '@tessera/runtime/http';
import type { RequireCredentialsOptions } from '@tessera/verifier';
import { type Request, type RequestHandler, Router } from 'express';
import { z } from 'zod';
import { HostedKeyDelegationSchema, HostedKeyOfferSchema, type HostedKeyring } from '../exchange/hosted-keys.js';
import type { WhiteflagAccounts } from './accounts.js';
import {
  AreaBodySchema,
  bodySchemaFor,
  DeviceSignalSchema,
  ListQuerySchema,
  SendBodyDocSchema,
  SendBodySchema,
  SignatureBodySchema,
} from './schemas.js';
import type { SendResult, WhiteflagSender } from './sender.js';
import type { AccountRow, ReceivedRow, WhiteflagStore } from './store.js';

const MESSAGES = '/whiteflag/messages';
const SEND = '/whiteflag/messages/:messageCode';
const SENDING_KEY = '/whiteflag/originator/sending-key';
const AREA = '/whiteflag/devices/:deviceId/area';

export interface WhiteflagRouterDeps {
  /** The verifier's guard (`requireCredentials` of the verifier router, or one built on its parts). */
  guard(options: RequireCredentialsOptions): RequestHandler;
  store: WhiteflagStore;
  accounts: WhiteflagAccounts;
  sender: WhiteflagSender;
  /** Hosted sending keys that DIDs authorise on chain; without it only the stack's own actors send over HTTP. */
  keyring?: Pick<HostedKeyring, 'offer' | 'confirm' | 'isActive' | 'keyNameOf'>;
  /** The stack's actors whose own DID keys send (DID → keystore name); they need no delegation. */
  actorKeys?: ReadonlyMap<string, string>;
  /** The device's did:ethr as the device registry binds it, for checking a DeviceOwnerCredential. */
  deviceDid(deviceId: string): Promise<string | undefined>;
  /** Absolute URL the router is mounted at, for the OpenAPI document. */
  publicUrl?: string;
  log?: Logger;
}

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
    throw new TesseraError('ERR_VALIDATION', issues.map((i) => `${i.path}: ${i.message}`).join('; '), {
      details: issues,
    });
  }
  return r.data;
}

function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  throw new TesseraError(r.error.code, r.error.message, { details: r.error.details });
}

/** The hosted-key flow is shared with the data exchange; its refusals are given Whiteflag's codes here. */
const HOSTED_KEY_CODES: Partial<Record<ErrorCode, ErrorCode>> = {
  ERR_EXCHANGE_NOT_FOUND: 'ERR_WHITEFLAG_NOT_FOUND',
  ERR_EXCHANGE_BAD_SIGNATURE: 'ERR_WHITEFLAG_AUTH_FAILED',
};
function unwrapHosted<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  throw new TesseraError(HOSTED_KEY_CODES[r.error.code] ?? r.error.code, r.error.message);
}

/** What the API shows of a received message; `authentic` is true only for a valid message of a verified originator. */
export function messageView(row: ReceivedRow) {
  const message = row.json ? (JSON.parse(row.json) as WhiteflagMessage) : null;
  return {
    txHash: row.txHash,
    blockNumber: row.blockNumber,
    canonical: row.canonical === 1,
    originator: {
      address: row.originator,
      did: row.originatorDid,
      deviceId: row.deviceId,
      authentication: row.auth,
      method: row.authMethod,
      authenticationMessage: row.authMessage,
    },
    authentic: row.auth === 'authenticated' && row.state === 'valid',
    state: row.state,
    error: row.errorCode ? { code: row.errorCode, message: row.errorMessage } : null,
    encryption: row.encryptionIndicator,
    decryptedWith: row.decryptedWith,
    notation: message ? notation(message) : null,
    message,
    receivedAt: row.receivedAt,
  };
}

// The answers, as the routes send them (checked against the real answers under TESSERA_CHECK_RESPONSES=1).
const ADDRESS = z.string().regex(EVM_ADDRESS_PATTERN);
const TX_HASH = z.string().regex(/^0x[0-9a-fA-F]{64}$/);
const BASE64URL = z.string().regex(/^[A-Za-z0-9_-]*$/);

/** RFC 7515 §7.2.2 flattened JWS (ES256K) of a method-1 account; its payload has addr, orgname, url and did. */
const WhiteflagStatement = z
  .object({ protected: BASE64URL, payload: BASE64URL, signature: BASE64URL })
  .meta({ id: 'WhiteflagStatement' });

/** The relayed delegation of the holder's sending key, and the account it sends from. */
const WhiteflagSendingKey = HostedKeyDelegationSchema.extend({
  account: ADDRESS.meta({ description: 'the sending account (lower-case)' }),
  statement: z.string().meta({ description: 'the URL of its method-1 statement' }),
}).meta({ id: 'WhiteflagSendingKey' });

/** One send as the outbox has it now (`GET /whiteflag/sent/{requestId}`). */
const WhiteflagSendState = z
  .object({
    id: z.string().meta({ description: '`<account>:<requestId>`' }),
    account: ADDRESS.meta({ description: 'the sending account (lower-case)' }),
    status: z.enum(['pending', 'signed', 'mined', 'failed']).meta({
      description:
        'the message’s outbox state; an encrypted message is `signed` until its initialisation vector is mined',
    }),
    txHash: TX_HASH.nullable().meta({ description: 'the message’s transaction; null until it is signed' }),
    ivTxHash: TX_HASH.nullable().meta({
      description: 'the transaction of the initialisation vector (K(3)) that follows an encrypted message',
    }),
    error: z.string().optional().meta({ description: 'the outbox’s last error, when it has one' }),
  })
  .meta({ id: 'WhiteflagSendState' });

/** `POST /whiteflag/messages/{messageCode}`: the send's state, with its request id and originator. */
const WhiteflagSend = z
  .object({
    requestId: z.string(),
    originator: z.string().meta({ description: 'the DID the message is sent for' }),
    ...WhiteflagSendState.shape,
  })
  .meta({ id: 'WhiteflagSend' });

/** A Whiteflag message in its JSON form (Annex B). */
const WhiteflagMessageJson = z.object({
  MessageHeader: z.object({
    Prefix: z.string(),
    Version: z.string(),
    EncryptionIndicator: z.string(),
    DuressIndicator: z.string(),
    MessageCode: z.string(),
    ReferenceIndicator: z.string(),
    ReferencedMessage: z.string(),
  }),
  MessageBody: z.record(z.string(), z.unknown()).meta({
    description:
      'the body by field name (strings); a Q body may carry requestObjects, a T body its PseudoMessageBody (Annex B)',
  }),
});

/** A received message as `messageView` shows it. */
const WhiteflagReceived = z
  .object({
    txHash: TX_HASH,
    blockNumber: z.number().int().min(0),
    canonical: z.boolean().meta({ description: 'false once a reorganisation took its block off the chain' }),
    originator: z.object({
      address: ADDRESS.meta({ description: 'the sending account (lower-case)' }),
      did: z.string().nullable().meta({ description: 'the DID its verified authentication names' }),
      deviceId: z.string().nullable().meta({ description: 'the device its verified authentication names' }),
      authentication: z.enum(['authenticated', 'unauthenticated', 'failed']),
      method: z.string().nullable().meta({ description: 'the authentication method (1 or 2)' }),
      authenticationMessage: z
        .string()
        .nullable()
        .meta({ description: 'the authentication message (transaction hash) that vouched for it' }),
    }),
    authentic: z
      .boolean()
      .meta({ description: 'true only for a valid message whose account was authenticated when it was mined' }),
    state: z.enum(['valid', 'invalid', 'encrypted', 'undecryptable']),
    error: z
      .object({ code: z.string(), message: z.string().nullable() })
      .nullable()
      .meta({ description: 'why it is invalid or undecryptable' }),
    encryption: z.string().meta({ description: 'its EncryptionIndicator' }),
    decryptedWith: z
      .string()
      .nullable()
      .meta({ description: 'the key that decrypted it: `psk:<name>` or `ecdh:<account>`' }),
    notation: z.string().nullable().meta({ description: 'e.g. `I21(0)`, bracketed when it was encrypted' }),
    message: WhiteflagMessageJson.nullable().meta({ description: 'the message; null while it cannot be read' }),
    receivedAt: z.string(),
  })
  .meta({ id: 'WhiteflagReceived' });

const WhiteflagArea = z
  .object({
    deviceId: z.string().regex(/^0x[0-9a-f]{64}$/),
    did: z.string().meta({ description: 'the device’s DID as the registry binds it' }),
    ...AreaBodySchema.shape,
    updatedAt: z.string(),
  })
  .meta({ id: 'WhiteflagArea' });

const SendBody = SendBodyDocSchema.meta({ id: 'SendBody' });
const AreaBody = AreaBodySchema.meta({ id: 'AreaBody' });
const SignatureBody = SignatureBodySchema.meta({ id: 'SignatureBody' });
const DeviceParam = z.object({ deviceId: z.string() });

/** 201 once the message (and its initialisation vector) is mined; 202 while it may still be (poll /whiteflag/sent). */
const sendStatus = (r: SendResult) => (r.status === 'mined' ? 201 : 202);

/**
 * The Whiteflag HTTP API (mounted at `/services/whiteflag`), every route behind the verifier's guard except the
 * public statements of method 1:
 * - `POST /whiteflag/originator/sending-key` and `…/confirm`: the holder's DID authorises the key that sends its
 *   messages (an ERC-1056 `veriKey` delegation the holder's wallet signs, as `wallet delegate` does); the account is
 *   then authenticated on chain (`A1`).
 * - `POST /whiteflag/messages/{code}`: send a sign, signal, text or resource link (policy `whiteflag.send.*`).
 * - `GET /whiteflag/messages`, `GET /whiteflag/messages/{txHash}`: what the listener received, with its
 *   authentication; `GET /whiteflag/sent/{requestId}`: the state of one of the holder's own sends.
 * - `PUT`/`GET /whiteflag/devices/{deviceId}/area`: where a device's signals come from (its owner sets it).
 * - `GET /whiteflag/statements/{address}`: the signed statement of a method-1 account (public).
 */
export function buildWhiteflagRouter(d: WhiteflagRouterDeps): Router {
  const log = d.log ?? silentLogger;
  const router = Router();
  const json = jsonBody({ limit: 16 * 1024 });
  const api = new HttpApi({
    title: 'Tessera Whiteflag',
    description:
      'Authenticated, pre-defined messages (Whiteflag, version 1) on the configured chain: operators send signs and ' +
      'signals over HTTP, devices over MQTT (topic whiteflag/signals/{code}, payload DeviceSignal), and the listener ' +
      'shows what the chain carries with each originator’s authentication. See docs/whiteflag.md.',
    bearerDescription: 'JWT (RFC 9068 at+jwt) access token from the verifier',
  });
  api.schema('DeviceSignal', DeviceSignalSchema);
  const document = (serverUrl: string) => api.openapi(serverUrl);

  router.get('/whiteflag/openapi.json', (_req, res) => {
    res.json(document(d.publicUrl ?? '/'));
  });

  api.route(
    router,
    {
      method: 'get',
      path: '/whiteflag/statements/{address}',
      summary: 'The signed statement of a method-1 account (flattened JWS, ES256K), public',
      params: z.object({ address: z.string() }),
      responses: { 200: { description: 'RFC 7515 flattened JSON serialization', schema: WhiteflagStatement } },
      errors: ['ERR_NOT_FOUND', 'ERR_WHITEFLAG_NOT_FOUND'],
    },
    async ({ params: { address } }, _req, res) => {
      if (!EVM_ADDRESS_PATTERN.test(address)) throw new TesseraError('ERR_NOT_FOUND', 'no statement at that address');
      const text = await d.accounts.statement(address);
      if (!text) throw new TesseraError('ERR_WHITEFLAG_NOT_FOUND', `no method-1 account ${address.toLowerCase()}`);
      res.type('application/json').send(text);
    },
  );

  /** The holder's sending account: its own key when it is a stack actor, otherwise its authorised hosted key. */
  async function accountOf(req: Request): Promise<AccountRow> {
    const holder = req.accessGrant!.holder.toLowerCase();
    const actorKey = d.actorKeys?.get(holder);
    const name = nameOf(req) ?? holder;
    if (actorKey) return unwrap(await d.accounts.ensureDidAccount({ did: holder, keyName: actorKey, name }));
    const row = await d.accounts.byDid(holder);
    if (!row || !d.keyring || !(await d.keyring.isActive(holder)))
      throw new TesseraError(
        'ERR_WHITEFLAG_ORIGINATOR_NOT_READY',
        `${holder} has no authorised sending account: POST ${SENDING_KEY}, sign the delegation, then POST …/confirm`,
      );
    return unwrap(await d.accounts.ensureDidAccount({ did: holder, keyName: row.keyName, name: row.name ?? name }));
  }

  /** The originator's name for its statement: the name claim of the credential the token was granted on. */
  function nameOf(req: Request): string | undefined {
    for (const c of req.accessGrant?.credentials ?? []) {
      const n = c.claims['name'] ?? c.claims['legalName'];
      if (typeof n === 'string' && n.length > 0) return n;
    }
    return undefined;
  }

  api.route(
    router,
    {
      method: 'post',
      path: SENDING_KEY,
      summary: 'The ERC-1056 delegation the holder signs to authorise its sending account',
      description: 'The same offer form as the data exchange’s hosted keys: `wallet delegate <this URL>` signs it.',
      bearer: true,
      responses: { 200: { description: 'the offer and whether it is active', schema: HostedKeyOfferSchema } },
      errors: [...GUARD_ERRORS, 'ERR_DID_MALFORMED', 'ERR_UNAVAILABLE'],
    },
    d.guard({ resource: SENDING_KEY }),
    json,
    async (_input, req, res) => {
      if (!d.keyring) throw new TesseraError('ERR_UNAVAILABLE', 'hosted sending keys are not enabled here');
      res.json(unwrapHosted(await d.keyring.offer(req.accessGrant!.holder)));
    },
  );

  api.route(
    router,
    {
      method: 'post',
      path: `${SENDING_KEY}/confirm`,
      summary: 'Relay the signed delegation; the account then authenticates on chain (A1)',
      bearer: true,
      body: SignatureBody,
      responses: {
        200: {
          description: 'the delegate, its transaction, the account and its statement URL',
          schema: WhiteflagSendingKey,
        },
      },
      errors: [
        ...GUARD_ERRORS,
        'ERR_VALIDATION',
        'ERR_WHITEFLAG_AUTH_FAILED',
        'ERR_WHITEFLAG_NOT_FOUND',
        'ERR_CHAIN_TX_FAILED',
      ],
    },
    d.guard({ resource: SENDING_KEY }),
    json,
    async ({ body: { signature } }, req, res) => {
      if (!d.keyring) throw new TesseraError('ERR_UNAVAILABLE', 'hosted sending keys are not enabled here');
      const holder = req.accessGrant!.holder;
      const confirmed = unwrapHosted(await d.keyring.confirm(holder, signature));
      const keyName = d.keyring.keyNameOf(holder)!;
      const account = unwrap(
        await d.accounts.ensureDidAccount({ did: holder, keyName, name: nameOf(req) ?? holder.toLowerCase() }),
      );
      log.info({ did: holder, account: account.address }, 'whiteflag sending key authorised');
      res.json({ ...confirmed, account: account.address, statement: d.accounts.statementUrl(account.address) });
    },
  );

  // The envelope, then the body by message code: the document shows both rules in one schema (SendBody).
  api.route(
    router,
    {
      method: 'post',
      path: '/whiteflag/messages/{messageCode}',
      summary: 'Send a Whiteflag message from the holder’s authenticated account',
      description:
        'Policies whiteflag.send.{code} say which credential sends which type (operators: I, D, S, E, M, F, R; ' +
        'admins: T). The account must be authorised first (POST /whiteflag/originator/sending-key). 201 once mined, ' +
        '202 while pending (poll GET /whiteflag/sent/{requestId}).',
      bearer: true,
      params: z.object({ messageCode: z.string().meta({ pattern: '^[A-Z]$' }) }),
      body: SendBody,
      validateBody: false,
      responses: {
        201: {
          description: 'mined: the transaction (and the initialisation vector’s, when encrypted)',
          schema: WhiteflagSend,
        },
        202: { description: 'recorded and sent, not yet mined', schema: WhiteflagSend },
      },
      errors: [
        ...GUARD_ERRORS,
        'ERR_VALIDATION',
        'ERR_JSON_MALFORMED',
        'ERR_BODY_TOO_LARGE',
        'ERR_WHITEFLAG_FIELD_INVALID',
        'ERR_WHITEFLAG_REFERENCE_INVALID',
        'ERR_WHITEFLAG_KEY_UNKNOWN',
        'ERR_WHITEFLAG_TOO_LARGE',
        'ERR_WHITEFLAG_ORIGINATOR_NOT_READY',
        'ERR_CHAIN_TX_FAILED',
      ],
    },
    d.guard({ resource: SEND }),
    json,
    async ({ params: { messageCode: code } }, req, res) => {
      const body = parse(SendBodySchema, req.body);
      const bodySchema = bodySchemaFor(code);
      if (!bodySchema)
        throw new TesseraError('ERR_WHITEFLAG_FIELD_INVALID', `'${code}' messages are not sent over HTTP`);
      parse(bodySchema, body.body);
      const account = await accountOf(req);
      const r = unwrap(
        await d.sender.send(account, {
          requestId: body.requestId,
          messageCode: code,
          body: body.body as never,
          header: {
            ...(body.duress ? { DuressIndicator: '1' } : {}),
            ...(body.reference
              ? {
                  ReferenceIndicator: body.reference.indicator,
                  ReferencedMessage: body.reference.message.replace(/^0x/, '').toLowerCase(),
                }
              : {}),
          },
          ...(body.encryption ? { encryption: body.encryption } : {}),
        }),
      );
      if (r.status === 'failed') throw new TesseraError('ERR_CHAIN_TX_FAILED', `the message was not mined: ${r.error}`);
      res.status(sendStatus(r)).json({ requestId: body.requestId, originator: account.did, ...r });
    },
  );

  api.route(
    router,
    {
      method: 'get',
      path: '/whiteflag/sent/{requestId}',
      summary: 'The state of one of the holder’s sends',
      bearer: true,
      params: z.object({ requestId: z.string() }),
      responses: { 200: { description: 'its outbox state and hashes', schema: WhiteflagSendState } },
      errors: [...GUARD_ERRORS, 'ERR_WHITEFLAG_NOT_FOUND'],
    },
    d.guard({ resource: MESSAGES, action: 'GET' }),
    async ({ params: { requestId } }, req, res) => {
      const account = await d.accounts.byDid(req.accessGrant!.holder);
      const r = account ? await d.sender.get(`${account.address}:${requestId}`) : undefined;
      if (!r) throw new TesseraError('ERR_WHITEFLAG_NOT_FOUND', 'no message sent with that request id');
      res.json(r);
    },
  );

  api.route(
    router,
    {
      method: 'get',
      path: MESSAGES,
      summary: 'Messages the listener received, newest first, each with its originator’s authentication',
      description:
        '`authentic` is true only for a valid message whose account had a verified authentication when it was ' +
        'mined; unauthenticated and wrongly authenticated messages are listed, marked as such.',
      bearer: true,
      query: ListQuerySchema,
      responses: {
        200: { description: 'newest first', schema: z.object({ messages: z.array(WhiteflagReceived) }) },
      },
      errors: [...GUARD_ERRORS, 'ERR_VALIDATION'],
    },
    d.guard({ resource: MESSAGES, action: 'GET' }),
    async ({ query: q }, _req, res) => {
      const rows = await d.store.list({
        limit: q.limit,
        ...(q.code ? { messageCode: q.code } : {}),
        ...(q.auth ? { auth: q.auth } : {}),
        ...(q.originator ? { originator: q.originator } : {}),
        ...(q.sinceBlock !== undefined ? { sinceBlock: q.sinceBlock } : {}),
        includeOrphaned: q.orphaned === 'true',
      });
      res.json({ messages: rows.map(messageView) });
    },
  );

  api.route(
    router,
    {
      method: 'get',
      path: `${MESSAGES}/{txHash}`,
      summary: 'One received message, the chain of messages it references, and those that reference it',
      bearer: true,
      params: z.object({ txHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 0x and 64 hex digits') }),
      responses: {
        200: {
          description: 'the message',
          schema: z.object({
            ...WhiteflagReceived.shape,
            references: z
              .array(WhiteflagReceived)
              .meta({ description: 'the messages it references, back to the original (at most 16)' }),
            referencedBy: z.array(WhiteflagReceived).meta({ description: 'the messages that reference it' }),
          }),
        },
      },
      errors: [...GUARD_ERRORS, 'ERR_VALIDATION', 'ERR_WHITEFLAG_NOT_FOUND'],
    },
    d.guard({ resource: MESSAGES, action: 'GET' }),
    async ({ params }, _req, res) => {
      const txHash = params.txHash.toLowerCase();
      const row = await d.store.received().findOneBy({ txHash });
      if (!row) throw new TesseraError('ERR_WHITEFLAG_NOT_FOUND', `no Whiteflag message ${txHash} was received`);
      // the chain of references back to its original (at most 16 links), and the messages that reference it
      const chain: ReceivedRow[] = [];
      let at: ReceivedRow | null = row;
      for (let i = 0; i < 16 && at?.referencedMessage; i++) {
        at = await d.store.received().findOneBy({ txHash: `0x${at.referencedMessage}` });
        if (at) chain.push(at);
      }
      res.json({
        ...messageView(row),
        references: chain.map(messageView),
        referencedBy: (await d.store.referencing(txHash)).map(messageView),
      });
    },
  );

  async function checkOwner(req: Request): Promise<{ deviceId: string; did: string }> {
    const deviceId = String(req.params['deviceId']).toLowerCase();
    if (!/^0x[0-9a-f]{64}$/.test(deviceId))
      throw new TesseraError('ERR_DEVICE_ID_INVALID', 'a device id is 0x and 64 hex');
    const did = await d.deviceDid(deviceId);
    if (!did) throw new TesseraError('ERR_DEVICE_UNKNOWN', `device ${deviceId} is not commissioned on chain`);
    const owns = req.accessGrant!.credentials.some(
      (c) => c.types.includes('DeviceOwnerCredential') && String(c.claims['device']).toLowerCase() === did,
    );
    if (!owns) throw new TesseraError('ERR_DEVICE_NOT_OWNER', `the token holds no DeviceOwnerCredential for ${did}`);
    return { deviceId, did };
  }

  // ownership is checked before the body (the lifecycle's codes first), with the documented AreaBody schema after
  api.route(
    router,
    {
      method: 'put',
      path: '/whiteflag/devices/{deviceId}/area',
      summary: 'Set the area whose authentic signals the device receives on whiteflag/inbox',
      description: 'Needs a DeviceOwnerCredential whose device is the DID the registry binds to this device id.',
      bearer: true,
      params: DeviceParam,
      body: AreaBody,
      validateBody: false,
      responses: { 200: { description: 'the area', schema: WhiteflagArea } },
      errors: [
        ...GUARD_ERRORS,
        'ERR_VALIDATION',
        'ERR_DEVICE_ID_INVALID',
        'ERR_DEVICE_UNKNOWN',
        'ERR_DEVICE_NOT_OWNER',
      ],
    },
    d.guard({ resource: AREA }),
    json,
    async (_input, req, res) => {
      const { deviceId, did } = await checkOwner(req);
      const area = parse(AreaBodySchema, req.body);
      const row = { deviceId, did, ...area, updatedAt: new Date().toISOString() };
      await d.store.areas().save(row);
      log.info({ deviceId, by: req.accessGrant!.holder }, 'whiteflag device area set');
      res.json(row);
    },
  );

  api.route(
    router,
    {
      method: 'get',
      path: '/whiteflag/devices/{deviceId}/area',
      summary: 'The device’s area',
      bearer: true,
      params: DeviceParam,
      responses: { 200: { description: 'the area', schema: WhiteflagArea } },
      errors: [
        ...GUARD_ERRORS,
        'ERR_DEVICE_ID_INVALID',
        'ERR_DEVICE_UNKNOWN',
        'ERR_DEVICE_NOT_OWNER',
        'ERR_WHITEFLAG_NOT_FOUND',
      ],
    },
    d.guard({ resource: AREA }),
    async (_input, req, res) => {
      const { deviceId } = await checkOwner(req);
      const row = await d.store.areas().findOneBy({ deviceId });
      if (!row) throw new TesseraError('ERR_WHITEFLAG_NOT_FOUND', `device ${deviceId} has no area`);
      res.json(row);
    },
  );

  router.use(errorHandler(log, 'whiteflag'));
  return attachOpenApi(router, document);
}
