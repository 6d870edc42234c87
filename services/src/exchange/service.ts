import { type Outbox, TesseraAnchor__factory } from '@tessera/contracts';
import { err, GENESIS_HASH, type Logger, ok, type Result, silentLogger } from '@tessera/protocol';
import type { Signer } from 'did-jwt';
import type { Resolvable } from 'did-resolver';
import { type JsonRpcProvider, keccak256, toUtf8Bytes } from 'ethers';
import type { EntityManager } from 'typeorm';
import {
  contentHash,
  type MessageBody,
  type MessageBodyInput,
  signAck,
  signMessage,
  type VerifiedAck,
  type VerifiedMessage,
  verifyAck,
  verifyMessage,
} from './messages.js';
import { acknowledgeStep, newSteps, openStep, type Process, type ProcessStep } from './process.js';
import { type Questionnaire, validateAnswers } from './questionnaire.js';
import {
  ConsentEntity,
  type ConsentRow,
  type ExchangeStore,
  MessageEntity,
  type MessageRow,
  PartnerEntity,
  type PartnerRow,
  ProcessEntity,
  type ProcessRow,
} from './store.js';
import { appendTrail, readTrail, type TrailEntry, type TrailVerification, trailHead, verifyTrail } from './trail.js';

export const DATA_PARTNER_CREDENTIAL = 'DataPartnerCredential';
/** The data space named in DataPartner credentials (claim `dataspace`, see verifier/policies/default.json). */
export const DEFAULT_DATASPACE = 'tessera';
/** The trail id on TesseraAnchor is keccak256 of this string. */
export const DEFAULT_EXCHANGE_TRAIL_ID = 'tessera:data-exchange-trail';
/** How far a sender's timestamp (iat) may be from the receiving service's clock, in seconds. */
export const MAX_CLOCK_SKEW_S = 300;

/** Who acts: the access-token holder and the credentials it was granted on (`req.accessGrant` from the guard). */
export interface Actor {
  did: string;
  credentials: readonly { types: readonly string[]; claims: Record<string, unknown>; expiresAt?: number }[];
}

/** Keys the service holds for organisations it signs for (the HTML interface signs with them). */
export interface ExchangeKeyring {
  signerFor(did: string): Signer | undefined;
}

export interface ExchangeServiceOptions {
  store: ExchangeStore;
  /** Resolves sender and receiver DIDs (the verifier's CachedDidResolver in the stack). */
  resolver: Resolvable;
  /** Anchoring: the outbox, the TesseraAnchor address and a provider to read anchored heads; all or none. */
  outbox?: Outbox;
  anchorAddress?: string;
  provider?: JsonRpcProvider;
  trailId?: string;
  dataspace?: string;
  keyring?: ExchangeKeyring;
  now?: () => Date;
  log?: Logger;
}

export interface MessageRecord {
  id: string;
  kind: MessageBody['kind'];
  from: string;
  to: string;
  processId: string | null;
  refId: string | null;
  contentHash: string | null;
  body: MessageBody;
  jws: string;
  hash: string;
  sentAt: string;
  receivedAt: string;
  status: MessageRow['status'];
  ackJws: string | null;
  ackHash: string | null;
  ackedAt: string | null;
}

export interface Consent {
  id: string;
  controller: string;
  recipient: string;
  subject: string;
  purpose: string;
  thirdPartyDisclosure: boolean;
  thirdParties: string[] | null;
  exchangeIds: string[] | null;
  expiresAt: string;
  status: ConsentRow['status'];
  revokedBy: string | null;
  revokedAt: string | null;
}

export interface AnchorResult {
  seq: number;
  hash: string;
  txHash?: string;
  blockNumber?: number;
}

const toRecord = (r: MessageRow): MessageRecord => ({
  id: r.id,
  kind: r.kind as MessageBody['kind'],
  from: r.sender,
  to: r.recipient,
  processId: r.processId,
  refId: r.refId,
  contentHash: r.contentHash,
  body: JSON.parse(r.body) as MessageBody,
  jws: r.jws,
  hash: r.hash,
  sentAt: r.sentAt,
  receivedAt: r.receivedAt,
  status: r.status,
  ackJws: r.ackJws,
  ackHash: r.ackHash,
  ackedAt: r.ackedAt,
});

const toConsent = (r: ConsentRow): Consent => ({
  id: r.id,
  controller: r.controller,
  recipient: r.recipient,
  subject: r.subject,
  purpose: r.purpose,
  thirdPartyDisclosure: r.thirdPartyDisclosure === 1,
  thirdParties: r.thirdParties === null ? null : (JSON.parse(r.thirdParties) as string[]),
  exchangeIds: r.exchangeIds === null ? null : (JSON.parse(r.exchangeIds) as string[]),
  expiresAt: r.expiresAt,
  status: r.status,
  revokedBy: r.revokedBy,
  revokedAt: r.revokedAt,
});

const toProcess = (r: ProcessRow): Process => ({
  id: r.id,
  template: r.template as Process['template'],
  initiator: r.initiator,
  counterparty: r.counterparty,
  status: r.status,
  steps: JSON.parse(r.steps) as ProcessStep[],
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

const iso = (s: number) => new Date(s * 1000).toISOString();

/**
 * Trusted data exchange between organisations. Every message is a JWS signed by
 * the sender's DID key and acknowledged by the receiver's signature over its hash; both are recorded with their
 * timestamps in a hash-chained trail whose head is anchored on chain through the outbox. Only holders of a
 * DataPartner credential take part, each acting through its own DID.
 */
export class ExchangeService {
  private readonly now: () => Date;
  private readonly dataspace: string;
  private readonly trailIdHash: string;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ExchangeServiceOptions) {
    this.now = o.now ?? (() => new Date());
    this.dataspace = o.dataspace ?? DEFAULT_DATASPACE;
    this.trailIdHash = keccak256(toUtf8Bytes(o.trailId ?? DEFAULT_EXCHANGE_TRAIL_ID));
    this.log = o.log ?? silentLogger;
  }

  private get ds() {
    return this.o.store.ds;
  }

  /** The DataPartner credential of the actor for this data space, or a refusal. */
  private partnerCredential(actor: Actor): Result<{ expiresAt?: number }> {
    const nowS = this.now().getTime() / 1000;
    const vc = actor.credentials.find(
      (c) =>
        c.types.includes(DATA_PARTNER_CREDENTIAL) &&
        c.claims.dataspace === this.dataspace &&
        (c.expiresAt === undefined || c.expiresAt > nowS),
    );
    if (!vc) {
      return err(
        'ERR_EXCHANGE_NOT_PARTNER',
        `${actor.did} did not present a valid ${DATA_PARTNER_CREDENTIAL} for data space '${this.dataspace}'`,
      );
    }
    return ok(vc);
  }

  /** Record (or refresh) the actor as a partner, so others can address it; `name` is how others see it. */
  async registerPartner(actor: Actor, name?: string): Promise<Result<PartnerRow>> {
    const vc = this.partnerCredential(actor);
    if (!vc.ok) return vc;
    const at = this.now().toISOString();
    const validUntil = vc.value.expiresAt === undefined ? null : iso(vc.value.expiresAt);
    const known = await this.ds.getRepository(PartnerEntity).findOneBy({ did: actor.did });
    // Acting again with the same credential changes nothing: no write on every message.
    if (known && known.validUntil === validUntil && (name === undefined || name === known.name)) return ok(known);
    return this.o.store.transaction(async (m) => {
      const repo = m.getRepository(PartnerEntity);
      const existing = await repo.findOneBy({ did: actor.did });
      const row: PartnerRow = {
        did: actor.did,
        name: (name ?? existing?.name ?? actor.did).slice(0, 200),
        validUntil,
        registeredAt: existing?.registeredAt ?? at,
        updatedAt: at,
      };
      if (existing) await repo.update({ did: actor.did }, row);
      else {
        await repo.insert(row);
        await appendTrail(m, { who: actor.did, what: 'partner.register', when: at, details: { did: actor.did } });
      }
      return ok(row);
    });
  }

  async partners(): Promise<PartnerRow[]> {
    const now = this.now().toISOString();
    return (await this.ds.getRepository(PartnerEntity).find({ order: { name: 'ASC' } })).filter(
      (p) => p.validUntil === null || p.validUntil > now,
    );
  }

  private async recipientIsPartner(m: EntityManager, did: string): Promise<boolean> {
    const p = await m.getRepository(PartnerEntity).findOneBy({ did });
    return p !== null && (p.validUntil === null || p.validUntil > this.now().toISOString());
  }

  /**
   * Receive a message signed by the actor: verify the signature against the sender's DID, that both parties are
   * partners, the timestamp, and the rules of its kind (answers against their questionnaire, forwarding under consent,
   * the process's next step); then record it with its trail entry in one transaction.
   */
  async submit(actor: Actor, jws: unknown): Promise<Result<MessageRecord>> {
    const partner = await this.registerPartner(actor);
    if (!partner.ok) return partner;
    const v = await verifyMessage(jws, this.o.resolver);
    if (!v.ok) return v;
    const msg = v.value;
    if (msg.from !== actor.did) {
      return err('ERR_EXCHANGE_BAD_SIGNATURE', `the message is signed by ${msg.from}, not by the caller ${actor.did}`);
    }
    const nowS = this.now().getTime() / 1000;
    if (Math.abs(nowS - msg.issuedAt) > MAX_CLOCK_SKEW_S) {
      return err('ERR_EXCHANGE_MESSAGE_INVALID', `the message timestamp is more than ${MAX_CLOCK_SKEW_S} s off`);
    }
    return this.o.store.transaction(async (m) => {
      if (!(await this.recipientIsPartner(m, msg.to))) {
        return err('ERR_EXCHANGE_NOT_PARTNER', `the recipient ${msg.to} is not a registered DataPartner`);
      }
      if (await m.getRepository(MessageEntity).existsBy({ id: msg.id })) {
        return err('ERR_EXCHANGE_DUPLICATE', `message ${msg.id} was already recorded`);
      }
      const rules = await this.applyRules(m, msg);
      if (!rules.ok) return rules;
      const at = this.now().toISOString();
      const row: MessageRow = {
        id: msg.id,
        kind: msg.body.kind,
        sender: msg.from,
        recipient: msg.to,
        processId: 'processId' in msg.body ? (msg.body.processId ?? null) : null,
        refId: rules.value.refId,
        contentHash: msg.body.kind === 'data' || msg.body.kind === 'forward' ? contentHash(msg.body as never) : null,
        body: JSON.stringify(msg.body),
        jws: msg.jws,
        hash: msg.hash,
        sentAt: iso(msg.issuedAt),
        receivedAt: at,
        status: 'sent',
        ackJws: null,
        ackHash: null,
        ackedAt: null,
      };
      await m.getRepository(MessageEntity).insert(row);
      await rules.value.commit();
      await appendTrail(m, {
        who: msg.from,
        what: `message.${msg.body.kind}`,
        when: at,
        details: {
          messageId: msg.id,
          from: msg.from,
          to: msg.to,
          sentAt: row.sentAt,
          messageHash: msg.hash,
          contentHash: row.contentHash,
          processId: row.processId,
          refId: row.refId,
        },
      });
      return ok(toRecord(row));
    });
  }

  /** Checks of one kind; `commit` writes its effects once the message row is in. */
  private async applyRules(
    m: EntityManager,
    msg: VerifiedMessage,
  ): Promise<Result<{ refId: string | null; commit: () => Promise<void> }>> {
    const messages = m.getRepository(MessageEntity);
    const consents = m.getRepository(ConsentEntity);
    const at = this.now().toISOString();
    const effects: (() => Promise<void>)[] = [];
    let refId: string | null = null;
    const b = msg.body;

    if (b.kind === 'answer') {
      const request = await messages.findOneBy({ id: b.requestId, kind: 'request' });
      if (!request || request.sender !== msg.to || request.recipient !== msg.from) {
        return err('ERR_EXCHANGE_NOT_FOUND', `no request ${b.requestId} from ${msg.to} to ${msg.from}`);
      }
      if (request.processId !== null && b.processId !== request.processId) {
        return err('ERR_EXCHANGE_PROCESS_STEP', `request ${b.requestId} is a step of process ${request.processId}`);
      }
      if (await messages.existsBy({ refId: b.requestId, kind: 'answer' })) {
        return err('ERR_EXCHANGE_DUPLICATE', `request ${b.requestId} was already answered`);
      }
      const q = (JSON.parse(request.body) as { questionnaire: Questionnaire }).questionnaire;
      const valid = validateAnswers(q, b.answers);
      if (!valid.ok) return valid;
      refId = b.requestId;
    }

    if (b.kind === 'consent.grant') {
      if (Date.parse(b.expiresAt) <= this.now().getTime()) {
        return err('ERR_EXCHANGE_MESSAGE_INVALID', 'the consent expires before it starts');
      }
      effects.push(async () => {
        await consents.insert({
          id: msg.id,
          controller: msg.from,
          recipient: msg.to,
          subject: b.subject,
          purpose: b.purpose,
          thirdPartyDisclosure: b.thirdPartyDisclosure ? 1 : 0,
          thirdParties: b.thirdParties ? JSON.stringify(b.thirdParties) : null,
          exchangeIds: b.exchangeIds ? JSON.stringify(b.exchangeIds) : null,
          expiresAt: new Date(b.expiresAt).toISOString(),
          status: 'active',
          revokedBy: null,
          revokedAt: null,
        });
      });
    }

    if (b.kind === 'consent.revoke') {
      const c = await consents.findOneBy({ id: b.consentId });
      if (!c || c.controller !== msg.from || c.recipient !== msg.to) {
        return err('ERR_EXCHANGE_NOT_FOUND', `no consent ${b.consentId} given by ${msg.from} to ${msg.to}`);
      }
      if (c.status === 'revoked') return err('ERR_EXCHANGE_CONSENT_REVOKED', `consent ${c.id} is already revoked`);
      refId = c.id;
      effects.push(async () => {
        await consents.update({ id: c.id }, { status: 'revoked', revokedBy: msg.id, revokedAt: at });
      });
    }

    if (b.kind === 'forward') {
      const checked = await this.checkForward(m, msg, b);
      if (!checked.ok) return checked;
      refId = b.originalId;
    }

    const processId = 'processId' in b ? b.processId : undefined;
    if (processId !== undefined) {
      const step = await this.checkStep(m, msg, processId, 'template' in b ? b.template : undefined);
      if (!step.ok) return step;
      effects.push(step.value);
    } else if ('template' in b && b.template !== undefined) {
      return err('ERR_EXCHANGE_MESSAGE_INVALID', 'a template needs the processId of the process it starts');
    }

    return ok({
      refId,
      commit: async () => {
        for (const e of effects) await e();
      },
    });
  }

  private async checkForward(
    m: EntityManager,
    msg: VerifiedMessage,
    b: Extract<MessageBody, { kind: 'forward' }>,
  ): Promise<Result<true>> {
    const messages = m.getRepository(MessageEntity);
    const original = await messages.findOneBy({ id: b.originalId });
    if (!original || (original.kind !== 'data' && original.kind !== 'forward') || original.recipient !== msg.from) {
      return err('ERR_EXCHANGE_NOT_FOUND', `${msg.from} received no data exchange ${b.originalId}`);
    }
    if (contentHash(b) !== original.contentHash) {
      return err('ERR_EXCHANGE_MESSAGE_INVALID', 'a forward must carry the content of the exchange it forwards');
    }
    // The owner of the data is whoever first sent it: walk the provenance chain to its root.
    let root = original;
    for (let hops = 0; root.kind === 'forward' && hops < 100; hops++) {
      const up = await messages.findOneBy({ id: root.refId! });
      if (!up) return err('ERR_EXCHANGE_NOT_FOUND', `the provenance of ${b.originalId} is broken at ${root.refId}`);
      root = up;
    }
    const c = await m.getRepository(ConsentEntity).findOneBy({ id: b.consentId });
    const noConsent = (why: string) =>
      err('ERR_EXCHANGE_NO_CONSENT', `forwarding ${b.originalId} to ${msg.to} is not allowed: ${why}`);
    if (!c) return noConsent(`there is no consent ${b.consentId}`);
    if (c.controller !== root.sender) return noConsent(`consent ${c.id} was not given by the data's owner`);
    if (c.recipient !== msg.from) return noConsent(`consent ${c.id} was given to another recipient`);
    if (c.status === 'revoked') {
      return err('ERR_EXCHANGE_CONSENT_REVOKED', `consent ${c.id} was revoked at ${c.revokedAt}`);
    }
    if (c.expiresAt <= this.now().toISOString()) {
      return err('ERR_EXCHANGE_CONSENT_EXPIRED', `consent ${c.id} expired at ${c.expiresAt}`);
    }
    if (c.thirdPartyDisclosure !== 1) return noConsent(`consent ${c.id} does not allow third-party disclosure`);
    const thirdParties = c.thirdParties === null ? null : (JSON.parse(c.thirdParties) as string[]);
    if (thirdParties && !thirdParties.includes(msg.to)) return noConsent(`consent ${c.id} does not name ${msg.to}`);
    const exchangeIds = c.exchangeIds === null ? null : (JSON.parse(c.exchangeIds) as string[]);
    if (exchangeIds && !exchangeIds.includes(root.id)) return noConsent(`consent ${c.id} does not cover ${root.id}`);
    return ok(true);
  }

  /** The message must be the open step of its process, from the right party; returns the step update. */
  private async checkStep(
    m: EntityManager,
    msg: VerifiedMessage,
    processId: string,
    template: string | undefined,
  ): Promise<Result<() => Promise<void>>> {
    const repo = m.getRepository(ProcessEntity);
    const at = this.now().toISOString();
    const existing = await repo.findOneBy({ id: processId });
    const fail = (why: string) => err('ERR_EXCHANGE_PROCESS_STEP', `process ${processId}: ${why}`);
    let process: Process;
    if (!existing) {
      if (template === undefined) return err('ERR_EXCHANGE_NOT_FOUND', `no process ${processId}`);
      process = {
        id: processId,
        template: template as Process['template'],
        initiator: msg.from,
        counterparty: msg.to,
        status: 'running',
        steps: newSteps(template as Process['template']),
        createdAt: at,
        updatedAt: at,
      };
    } else {
      if (template !== undefined) return fail('already exists');
      process = toProcess(existing);
    }
    if (process.status !== 'running') return fail(`is ${process.status}`);
    const role =
      msg.from === process.initiator && msg.to === process.counterparty
        ? 'initiator'
        : msg.from === process.counterparty && msg.to === process.initiator
          ? 'counterparty'
          : undefined;
    if (!role) return fail(`${msg.from} → ${msg.to} are not its parties`);
    const step = openStep(process.steps);
    if (!step) return fail('no step is open: the previous one waits for its acknowledgement');
    if (step.kind !== msg.body.kind || step.from !== role) {
      return fail(
        `the open step is '${step.name}' (${step.kind} from the ${step.from}), not ${msg.body.kind} from the ${role}`,
      );
    }
    if (msg.body.kind === 'answer') {
      const questionnaire = process.steps.find((s) => s.kind === 'request');
      if (questionnaire?.messageId !== msg.body.requestId) return fail('the answer must answer its questionnaire');
    }
    const steps = process.steps.map((s) => (s === step ? { ...s, state: 'sent' as const, messageId: msg.id } : s));
    const status = msg.body.kind === 'decision' && !msg.body.approved ? 'rejected' : process.status;
    return ok(async () => {
      const row: ProcessRow = {
        id: process.id,
        template: process.template,
        initiator: process.initiator,
        counterparty: process.counterparty,
        status,
        steps: JSON.stringify(steps),
        createdAt: process.createdAt,
        updatedAt: at,
      };
      if (existing) await repo.update({ id: process.id }, row);
      else await repo.insert(row);
    });
  }

  /**
   * The receiver acknowledges a message with its signature over the message's hash; recorded once, with a trail entry.
   * A process step is done once acknowledged.
   */
  async acknowledge(actor: Actor, messageId: string, ackJws: unknown): Promise<Result<MessageRecord>> {
    const partner = this.partnerCredential(actor);
    if (!partner.ok) return partner;
    const v = await verifyAck(ackJws, this.o.resolver);
    if (!v.ok) return v;
    const ack: VerifiedAck = v.value;
    return this.o.store.transaction(async (m) => {
      const repo = m.getRepository(MessageEntity);
      const row = await repo.findOneBy({ id: messageId });
      if (!row) return err('ERR_EXCHANGE_NOT_FOUND', `no message ${messageId}`);
      if (actor.did !== row.recipient || ack.from !== row.recipient) {
        return err('ERR_EXCHANGE_NOT_RECIPIENT', `only the recipient ${row.recipient} acknowledges ${messageId}`);
      }
      if (row.status === 'acknowledged') {
        return err('ERR_EXCHANGE_NOT_RECIPIENT', `message ${messageId} was already acknowledged`);
      }
      if (ack.messageId !== row.id || ack.messageHash !== row.hash || ack.to !== row.sender) {
        return err('ERR_EXCHANGE_BAD_SIGNATURE', 'the acknowledgement is not over this message');
      }
      const at = this.now().toISOString();
      const patch = { status: 'acknowledged' as const, ackJws: ack.jws, ackHash: ack.hash, ackedAt: at };
      await repo.update({ id: row.id }, patch);
      if (row.processId) {
        const processes = m.getRepository(ProcessEntity);
        const p = await processes.findOneBy({ id: row.processId });
        if (p) {
          const { steps, last } = acknowledgeStep(JSON.parse(p.steps) as ProcessStep[], row.id);
          const status = p.status === 'running' && last ? 'completed' : p.status;
          await processes.update({ id: p.id }, { steps: JSON.stringify(steps), status, updatedAt: at });
        }
      }
      await appendTrail(m, {
        who: ack.from,
        what: 'message.ack',
        when: at,
        details: {
          messageId: row.id,
          from: ack.from,
          to: ack.to,
          signedAt: iso(ack.issuedAt),
          messageHash: row.hash,
          ackHash: ack.hash,
        },
      });
      return ok(toRecord({ ...row, ...patch }));
    });
  }

  private hostedSigner(did: string): Result<Signer> {
    const signer = this.o.keyring?.signerFor(did);
    if (!signer) return err('ERR_EXCHANGE_BAD_SIGNATURE', `this service holds no signing key for ${did}`);
    return ok(signer);
  }

  /** Sign with the key the service holds for the actor (the HTML interface), then `submit`. */
  async sendHosted(actor: Actor, to: string, body: MessageBodyInput): Promise<Result<MessageRecord>> {
    const signer = this.hostedSigner(actor.did);
    if (!signer.ok) return signer;
    const jws = await signMessage({ did: actor.did, signer: signer.value }, to, body, {
      issuedAt: Math.floor(this.now().getTime() / 1000),
    });
    return this.submit(actor, jws);
  }

  /** Acknowledge with the key the service holds for the actor. */
  async acknowledgeHosted(actor: Actor, messageId: string): Promise<Result<MessageRecord>> {
    const signer = this.hostedSigner(actor.did);
    if (!signer.ok) return signer;
    const row = await this.ds.getRepository(MessageEntity).findOneBy({ id: messageId });
    if (!row) return err('ERR_EXCHANGE_NOT_FOUND', `no message ${messageId}`);
    const jws = await signAck({ did: actor.did, signer: signer.value }, { id: row.id, from: row.sender, jws: row.jws });
    return this.acknowledge(actor, messageId, jws);
  }

  /** A message visible to `party` (its sender or recipient). */
  async message(id: string, party: string): Promise<Result<MessageRecord>> {
    const row = await this.ds.getRepository(MessageEntity).findOneBy({ id });
    if (!row || (row.sender !== party && row.recipient !== party)) {
      return err('ERR_EXCHANGE_NOT_FOUND', `no message ${id} for ${party}`);
    }
    return ok(toRecord(row));
  }

  async messages(
    party: string,
    q: { kind?: string; processId?: string; limit?: number } = {},
  ): Promise<MessageRecord[]> {
    const qb = this.ds
      .getRepository(MessageEntity)
      .createQueryBuilder('m')
      .where('(m.sender = :party OR m.recipient = :party)', { party })
      .orderBy('m.received_at', 'DESC')
      .addOrderBy('m.id', 'ASC')
      .take(Math.min(Math.max(q.limit ?? 100, 1), 500));
    if (q.kind) qb.andWhere('m.kind = :kind', { kind: q.kind });
    if (q.processId) qb.andWhere('m.process_id = :pid', { pid: q.processId });
    return (await qb.getMany()).map(toRecord);
  }

  /** The provenance chain of a (forwarded) exchange, from the message itself back to the original. */
  async provenance(id: string, party: string): Promise<Result<MessageRecord[]>> {
    const first = await this.message(id, party);
    if (!first.ok) return first;
    const chain = [first.value];
    const repo = this.ds.getRepository(MessageEntity);
    for (let cur = first.value; cur.kind === 'forward' && chain.length < 100; ) {
      const up = await repo.findOneBy({ id: cur.refId! });
      if (!up) break;
      cur = toRecord(up);
      chain.push(cur);
    }
    return ok(chain);
  }

  /** Re-verify both signatures of a recorded message against the DIDs now. */
  async verifySignatures(id: string, party: string): Promise<Result<{ message: VerifiedMessage; ack?: VerifiedAck }>> {
    const r = await this.message(id, party);
    if (!r.ok) return r;
    const message = await verifyMessage(r.value.jws, this.o.resolver);
    if (!message.ok) return message;
    if (r.value.ackJws === null) return ok({ message: message.value });
    const ack = await verifyAck(r.value.ackJws, this.o.resolver);
    if (!ack.ok) return ack;
    if (ack.value.messageHash !== message.value.hash || ack.value.from !== message.value.to) {
      return err('ERR_EXCHANGE_BAD_SIGNATURE', 'the acknowledgement is not the recipient’s over this message');
    }
    return ok({ message: message.value, ack: ack.value });
  }

  async consents(party: string): Promise<Consent[]> {
    const rows = await this.ds
      .getRepository(ConsentEntity)
      .createQueryBuilder('c')
      .where('(c.controller = :party OR c.recipient = :party)', { party })
      .orderBy('c.id', 'ASC')
      .getMany();
    return rows.map(toConsent);
  }

  async processes(party: string): Promise<Process[]> {
    const rows = await this.ds
      .getRepository(ProcessEntity)
      .createQueryBuilder('p')
      .where('(p.initiator = :party OR p.counterparty = :party)', { party })
      .orderBy('p.created_at', 'DESC')
      .getMany();
    return rows.map(toProcess);
  }

  async process(id: string, party: string): Promise<Result<Process>> {
    const row = await this.ds.getRepository(ProcessEntity).findOneBy({ id });
    if (!row || (row.initiator !== party && row.counterparty !== party)) {
      return err('ERR_EXCHANGE_NOT_FOUND', `no process ${id} for ${party}`);
    }
    return ok(toProcess(row));
  }

  /** Trail entries (all, or those `party` took part in), oldest first: the exportable audit report. */
  trail(q: { afterSeq?: number; limit?: number; party?: string } = {}): Promise<TrailEntry[]> {
    return readTrail(this.ds, q);
  }

  private anchorContract() {
    if (!this.o.anchorAddress || !this.o.provider) return undefined;
    return TesseraAnchor__factory.connect(this.o.anchorAddress, this.o.provider as never);
  }

  /** The head last anchored on chain for this trail (seq 0 when none). */
  async anchoredHead(): Promise<{ seq: number; hash: string }> {
    const c = this.anchorContract();
    if (!c) return { seq: 0, hash: GENESIS_HASH };
    const [hash, seq] = await c.headOf(this.trailIdHash);
    return { seq: Number(seq), hash: hash.slice(2) };
  }

  /** Check the trail's hash chain and recorded messages; with `checkAnchor`, also against the head anchored on chain. */
  async verifyTrail(options: { checkAnchor?: boolean } = {}): Promise<Result<TrailVerification>> {
    if (!options.checkAnchor) return verifyTrail(this.ds);
    return verifyTrail(this.ds, { anchored: await this.anchoredHead() });
  }

  /** Anchor the current head on chain through the outbox (TesseraAnchor.anchor); idempotent per head seq. */
  async anchorTrail(): Promise<Result<AnchorResult>> {
    const c = this.anchorContract();
    if (!c || !this.o.outbox) return err('ERR_UNAVAILABLE', 'anchoring needs an outbox, a provider and TesseraAnchor');
    const head = await trailHead(this.ds);
    if (head.seq === 0) return ok(head);
    const anchored = await this.anchoredHead();
    if (anchored.seq >= head.seq) return ok(head);
    const data = c.interface.encodeFunctionData('anchor', [this.trailIdHash, head.seq, `0x${head.hash}`]);
    const row = await this.o.outbox.submit(`exchange-trail-anchor:${head.seq}`, {
      kind: 'exchange-anchor',
      to: this.o.anchorAddress!,
      data,
    });
    if (row.status !== 'mined') {
      return err('ERR_CHAIN_TX_FAILED', `anchoring trail head ${head.seq} failed: ${row.error ?? row.status}`);
    }
    return ok({ ...head, txHash: row.txHash!, blockNumber: row.blockNumber! });
  }

  /** Anchor the head every `intervalMs` (when it moved); `stop()` ends it. */
  startAnchoring(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      void this.anchorTrail().then(
        (r) => {
          if (!r.ok) this.log.warn({ code: r.error.code, reason: r.error.message }, 'exchange trail anchoring failed');
        },
        (e: unknown) => this.log.error({ err: e }, 'exchange trail anchoring failed'),
      );
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
