import { type ErrorCode, type Logger, type Result, silentLogger, TesseraError } from '@tessera/protocol';
import { notation, type WhiteflagMessage } from '@tessera/protocol/whiteflag';
import { attachOpenApi, errorHandler, jsonBody } from '@tessera/runtime/http';
import type { RequireCredentialsOptions } from '@tessera/verifier';
import { type Request, type RequestHandler, Router } from 'express';
import type { z } from 'zod';
import type { HostedKeyring } from '../exchange/hosted-keys.js';
import type { WhiteflagAccounts } from './accounts.js';
import { whiteflagOpenApi } from './openapi.js';
import { AreaBodySchema, bodySchemaFor, ListQuerySchema, SendBodySchema, SignatureBodySchema } from './schemas.js';
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

  router.get('/whiteflag/openapi.json', (_req, res) => {
    res.json(whiteflagOpenApi(d.publicUrl ?? '/'));
  });

  router.get('/whiteflag/statements/:address', async (req, res) => {
    const address = String(req.params['address']);
    if (!/^0x[0-9a-fA-F]{40}$/.test(address)) throw new TesseraError('ERR_NOT_FOUND', 'no statement at that address');
    const text = await d.accounts.statement(address);
    if (!text) throw new TesseraError('ERR_WHITEFLAG_NOT_FOUND', `no method-1 account ${address.toLowerCase()}`);
    res.type('application/json').send(text);
  });

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

  router.post(SENDING_KEY, d.guard({ resource: SENDING_KEY }), json, async (req, res) => {
    if (!d.keyring) throw new TesseraError('ERR_UNAVAILABLE', 'hosted sending keys are not enabled here');
    res.json(unwrapHosted(await d.keyring.offer(req.accessGrant!.holder)));
  });

  router.post(`${SENDING_KEY}/confirm`, d.guard({ resource: SENDING_KEY }), json, async (req, res) => {
    if (!d.keyring) throw new TesseraError('ERR_UNAVAILABLE', 'hosted sending keys are not enabled here');
    const holder = req.accessGrant!.holder;
    const { signature } = parse(SignatureBodySchema, req.body);
    const confirmed = unwrapHosted(await d.keyring.confirm(holder, signature));
    const keyName = d.keyring.keyNameOf(holder)!;
    const account = unwrap(
      await d.accounts.ensureDidAccount({ did: holder, keyName, name: nameOf(req) ?? holder.toLowerCase() }),
    );
    log.info({ did: holder, account: account.address }, 'whiteflag sending key authorised');
    res.json({ ...confirmed, account: account.address, statement: d.accounts.statementUrl(account.address) });
  });

  router.post(SEND, d.guard({ resource: SEND }), json, async (req, res) => {
    const code = String(req.params['messageCode']);
    const body = parse(SendBodySchema, req.body);
    const bodySchema = bodySchemaFor(code);
    if (!bodySchema) throw new TesseraError('ERR_WHITEFLAG_FIELD_INVALID', `'${code}' messages are not sent over HTTP`);
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
  });

  router.get('/whiteflag/sent/:requestId', d.guard({ resource: MESSAGES, action: 'GET' }), async (req, res) => {
    const account = await d.accounts.byDid(req.accessGrant!.holder);
    const r = account ? await d.sender.get(`${account.address}:${String(req.params['requestId'])}`) : undefined;
    if (!r) throw new TesseraError('ERR_WHITEFLAG_NOT_FOUND', 'no message sent with that request id');
    res.json(r);
  });

  router.get(MESSAGES, d.guard({ resource: MESSAGES, action: 'GET' }), async (req, res) => {
    const q = parse(ListQuerySchema, req.query);
    const rows = await d.store.list({
      limit: q.limit,
      ...(q.code ? { messageCode: q.code } : {}),
      ...(q.auth ? { auth: q.auth } : {}),
      ...(q.originator ? { originator: q.originator } : {}),
      ...(q.sinceBlock !== undefined ? { sinceBlock: q.sinceBlock } : {}),
      includeOrphaned: q.orphaned === 'true',
    });
    res.json({ messages: rows.map(messageView) });
  });

  router.get(`${MESSAGES}/:txHash`, d.guard({ resource: MESSAGES, action: 'GET' }), async (req, res) => {
    const txHash = String(req.params['txHash']).toLowerCase();
    if (!/^0x[0-9a-f]{64}$/.test(txHash)) throw new TesseraError('ERR_VALIDATION', 'txHash: 0x and 64 hex digits');
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
  });

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

  router.put(AREA, d.guard({ resource: AREA }), json, async (req, res) => {
    const { deviceId, did } = await checkOwner(req);
    const area = parse(AreaBodySchema, req.body);
    const row = { deviceId, did, ...area, updatedAt: new Date().toISOString() };
    await d.store.areas().save(row);
    log.info({ deviceId, by: req.accessGrant!.holder }, 'whiteflag device area set');
    res.json(row);
  });

  router.get(AREA, d.guard({ resource: AREA }), async (req, res) => {
    const { deviceId } = await checkOwner(req);
    const row = await d.store.areas().findOneBy({ deviceId });
    if (!row) throw new TesseraError('ERR_WHITEFLAG_NOT_FOUND', `device ${deviceId} has no area`);
    res.json(row);
  });

  router.use(errorHandler(log, 'whiteflag'));
  return attachOpenApi(router, whiteflagOpenApi);
}
