import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TesseraAnchor__factory } from '@tessera/contracts';
import { keccak256, toUtf8Bytes } from 'ethers';
import { contentHash, type MessageBodyInput, sha256Hex, signAck, signMessage } from './messages.js';
import { SUPPLIER_QUESTIONNAIRE } from './questionnaire.js';
import { DEFAULT_EXCHANGE_TRAIL_ID, type MessageRecord } from './service.js';
import { MessageEntity, TrailEntity } from './store.js';
import { type ExchangeFixture, type FixtureOptions, newOrg, type Org, startExchangeFixture } from './testing.js';

/**
 * The data exchange conformance suite, run against every database the stack supports (SQLite in `npm test`,
 * PostgreSQL in `npm run test:services`), always on a real anvil.
 */
export function exchangeServiceSuite(name: string, db: FixtureOptions = {}) {
  let fx: ExchangeFixture;
  const buyer = newOrg('Acme Buyer GmbH');
  const supplier = newOrg('Solar Parts SARL');
  const auditor = newOrg('Green Audit BV');
  const outsider = newOrg('No Credential Ltd', '0x7a69', false);
  const rogue = newOrg('Rogue');

  const code = (r: { ok: boolean; error?: { code: string } }) => (r.ok ? 'ok' : r.error!.code);
  const value = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    return r.value;
  };

  /** Sender signs and submits, receiver acknowledges with its own signature: the normal exchange. */
  async function exchange(from: Org, to: Org, body: MessageBodyInput): Promise<MessageRecord> {
    const sent = value(await fx.service.submit(from.actor, await signMessage(from, to.did, body)));
    return value(await fx.service.acknowledge(to.actor, sent.id, await signAck(to, sent)));
  }

  before(async () => {
    fx = await startExchangeFixture(db);
    for (const org of [buyer, supplier, auditor]) value(await fx.service.registerPartner(org.actor, org.name));
  });
  after(async () => fx?.close());

  describe(`data exchange on ${name} and anvil`, () => {
    it('runs supplier onboarding end to end: both signatures verified, trail verified against the chain anchor', async () => {
      const processId = 'onb-solar-parts-0001';
      const q = await exchange(buyer, supplier, {
        kind: 'request',
        questionnaire: SUPPLIER_QUESTIONNAIRE,
        processId,
        template: 'supplier-onboarding',
      });
      let p = value(await fx.service.process(processId, supplier.did));
      assert.deepEqual(
        p.steps.map((s) => s.state),
        ['acknowledged', 'open', 'waiting', 'waiting'],
      );

      // The approval cannot jump the queue.
      assert.equal(
        code(
          await fx.service.submit(
            buyer.actor,
            await signMessage(buyer, supplier.did, { kind: 'decision', approved: true, processId }),
          ),
        ),
        'ERR_EXCHANGE_PROCESS_STEP',
      );

      const answers = {
        legalName: 'Solar Parts SARL',
        vatId: 'FR12345678901',
        employees: 42,
        iso14001: true,
        renewableShare: 87.5,
        country: 'FR',
      };
      const a = await exchange(supplier, buyer, { kind: 'answer', requestId: q.id, answers, processId });
      assert.equal(a.refId, q.id);
      const certificate = {
        sha256: sha256Hex('ISO 14001 certificate PDF bytes'),
        mediaType: 'application/pdf',
        title: 'ISO 14001:2015 certificate',
      };
      const c = await exchange(supplier, buyer, {
        kind: 'data',
        label: 'certificate',
        document: certificate,
        processId,
      });
      assert.equal(c.contentHash, certificate.sha256);

      // A step waits for the acknowledgement of the previous one.
      const sentOnly = value(
        await fx.service.submit(
          buyer.actor,
          await signMessage(buyer, supplier.did, { kind: 'decision', approved: true, processId }),
        ),
      );
      p = value(await fx.service.process(processId, buyer.did));
      assert.equal(p.status, 'running');
      assert.equal(p.steps[3]!.state, 'sent');
      value(await fx.service.acknowledge(supplier.actor, sentOnly.id, await signAck(supplier, sentOnly)));
      p = value(await fx.service.process(processId, buyer.did));
      assert.equal(p.status, 'completed');
      assert.deepEqual(
        p.steps.map((s) => [s.name, s.state]),
        [
          ['questionnaire', 'acknowledged'],
          ['answer', 'acknowledged'],
          ['certificate', 'acknowledged'],
          ['approval', 'acknowledged'],
        ],
      );

      // Both signatures of every step verify against the parties' DIDs, and the acknowledgement covers the message hash.
      for (const step of p.steps) {
        const v = value(await fx.service.verifySignatures(step.messageId!, buyer.did));
        assert.ok(v.ack, `step ${step.name} is acknowledged`);
        assert.equal(v.ack.messageHash, v.message.hash);
        assert.equal(v.message.hash, sha256Hex(v.message.jws));
        const [sender, receiver] = step.from === 'initiator' ? [buyer, supplier] : [supplier, buyer];
        assert.equal(v.message.from, sender.did);
        assert.equal(v.ack.from, receiver.did);
      }

      const anchored = value(await fx.service.anchorTrail());
      assert.ok(anchored.blockNumber! > 0);
      const onChain = await TesseraAnchor__factory.connect(fx.anchorAddress, fx.provider).headOf(
        keccak256(toUtf8Bytes(DEFAULT_EXCHANGE_TRAIL_ID)),
      );
      assert.equal(Number(onChain[1]), anchored.seq);
      assert.equal(onChain[0], `0x${anchored.hash}`);
      const verified = value(await fx.service.verifyTrail({ checkAnchor: true }));
      assert.equal(verified.length, anchored.seq);
      assert.deepEqual(verified.anchored, { seq: anchored.seq, hash: anchored.hash });
      // 3 partners + 4 messages + 4 acks + the refused decision left nothing behind
      assert.equal(anchored.seq, 3 + 4 + 4);
      const report = await fx.service.trail({ party: supplier.did, limit: 1000 });
      assert.deepEqual(
        report.filter((e) => (e.details as { processId?: string }).processId === processId).map((e) => e.what),
        ['message.request', 'message.answer', 'message.data', 'message.decision'],
      );
    });

    it('refuses a party without a DataPartner credential, as sender and as recipient', async () => {
      const toOutsider = await signMessage(buyer, outsider.did, {
        kind: 'data',
        label: 'prices',
        payload: { eurPerKwh: 0.21 },
      });
      assert.equal(code(await fx.service.submit(buyer.actor, toOutsider)), 'ERR_EXCHANGE_NOT_PARTNER');
      const fromOutsider = await signMessage(outsider, buyer.did, { kind: 'data', label: 'spam', payload: {} });
      assert.equal(code(await fx.service.submit(outsider.actor, fromOutsider)), 'ERR_EXCHANGE_NOT_PARTNER');
      const wrongSpace = {
        did: buyer.did,
        credentials: [{ types: ['DataPartnerCredential'], claims: { dataspace: 'other' } }],
      };
      assert.equal(code(await fx.service.registerPartner(wrongSpace)), 'ERR_EXCHANGE_NOT_PARTNER');
      const expired = { ...buyer.actor, credentials: [{ ...buyer.actor.credentials[0]!, expiresAt: 1 }] };
      assert.equal(code(await fx.service.submit(expired, toOutsider)), 'ERR_EXCHANGE_NOT_PARTNER');
    });

    it('refuses a message with a bad signature, a forged sender, or signed by someone other than the caller', async () => {
      const good = await signMessage(buyer, supplier.did, { kind: 'data', label: 'forecast', payload: { kWh: 12 } });
      const [h, p, s] = good.split('.') as [string, string, string];
      const body = JSON.parse(Buffer.from(p, 'base64url').toString()) as { tex: { payload: { kWh: number } } };
      body.tex.payload.kWh = 13_000;
      const edited = `${h}.${Buffer.from(JSON.stringify(body)).toString('base64url')}.${s}`;
      assert.equal(code(await fx.service.submit(buyer.actor, edited)), 'ERR_EXCHANGE_BAD_SIGNATURE');
      const forged = await signMessage({ did: buyer.did, signer: rogue.signer }, supplier.did, {
        kind: 'data',
        label: 'x',
        payload: 1,
      });
      assert.equal(code(await fx.service.submit(buyer.actor, forged)), 'ERR_EXCHANGE_BAD_SIGNATURE');
      assert.equal(code(await fx.service.submit(auditor.actor, good)), 'ERR_EXCHANGE_BAD_SIGNATURE');
      const none = `${Buffer.from('{"alg":"none","typ":"tessera-exchange+jwt"}').toString('base64url')}.${p}.`;
      assert.equal(code(await fx.service.submit(buyer.actor, none)), 'ERR_EXCHANGE_MESSAGE_INVALID');

      // An acknowledgement by someone else than the recipient, or over other bytes, is refused too.
      const sent = value(await fx.service.submit(buyer.actor, good));
      assert.equal(code(await fx.service.submit(buyer.actor, good)), 'ERR_EXCHANGE_DUPLICATE');
      assert.equal(
        code(await fx.service.acknowledge(auditor.actor, sent.id, await signAck(auditor, sent))),
        'ERR_EXCHANGE_NOT_RECIPIENT',
      );
      const otherBytes = await signAck(supplier, { ...sent, jws: edited });
      assert.equal(
        code(await fx.service.acknowledge(supplier.actor, sent.id, otherBytes)),
        'ERR_EXCHANGE_BAD_SIGNATURE',
      );
      const forgedAck = await signAck({ did: supplier.did, signer: rogue.signer }, sent);
      assert.equal(
        code(await fx.service.acknowledge(supplier.actor, sent.id, forgedAck)),
        'ERR_EXCHANGE_BAD_SIGNATURE',
      );
      value(await fx.service.acknowledge(supplier.actor, sent.id, await signAck(supplier, sent)));
    });

    it('refuses an answer that does not match the questionnaire, listing every problem', async () => {
      const q = await exchange(buyer, supplier, { kind: 'request', questionnaire: SUPPLIER_QUESTIONNAIRE });
      const bad = await signMessage(supplier, buyer.did, {
        kind: 'answer',
        requestId: q.id,
        answers: { legalName: 'Solar Parts SARL', vatId: 'not a VAT id', employees: 4.5, country: 'US', extra: 1 },
      });
      const r = await fx.service.submit(supplier.actor, bad);
      assert.equal(code(r), 'ERR_EXCHANGE_ANSWER_INVALID');
      assert.ok(!r.ok);
      assert.deepEqual((r.error.details as { path: string }[]).map((d) => d.path).sort(), [
        'country',
        'employees',
        'extra',
        'iso14001',
        'vatId',
      ]);
      // The questionnaire itself must be in the supported subset.
      const badQ = await signMessage(buyer, supplier.did, {
        kind: 'request',
        questionnaire: { title: 'x', type: 'object', properties: { a: { type: 'array', title: 'A' } } } as never,
      });
      assert.equal(code(await fx.service.submit(buyer.actor, badQ)), 'ERR_EXCHANGE_MESSAGE_INVALID');
    });

    it('forwards only under a consent that allows it, keeps provenance, and refuses after revocation', async () => {
      const payload = { site: 'Lyon-3', monthlyKWh: [410, 380, 520] };
      const data = await exchange(supplier, buyer, { kind: 'data', label: 'consumption', payload });
      const forward = (consentId: string, to: Org = auditor, body = payload) =>
        signMessage(buyer, to.did, {
          kind: 'forward',
          originalId: data.id,
          consentId,
          label: 'consumption',
          payload: body,
        });

      assert.equal(
        code(await fx.service.submit(buyer.actor, await forward('consent-none-0001'))),
        'ERR_EXCHANGE_NO_CONSENT',
      );

      const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
      const consentBase = {
        kind: 'consent.grant',
        subject: supplier.did,
        purpose: 'supplier audit',
        purposeCategory: 'compliance',
        jurisdiction: 'FR',
        expiresAt,
      } as const;
      const noDisclosure = await exchange(supplier, buyer, { ...consentBase, thirdPartyDisclosure: false });
      assert.equal(
        code(await fx.service.submit(buyer.actor, await forward(noDisclosure.id))),
        'ERR_EXCHANGE_NO_CONSENT',
      );
      const onlyRogue = await exchange(supplier, buyer, {
        ...consentBase,
        thirdPartyDisclosure: true,
        thirdParties: [rogue.did],
      });
      assert.equal(code(await fx.service.submit(buyer.actor, await forward(onlyRogue.id))), 'ERR_EXCHANGE_NO_CONSENT');

      const consent = await exchange(supplier, buyer, {
        ...consentBase,
        thirdPartyDisclosure: true,
        thirdParties: [auditor.did],
        exchangeIds: [data.id],
      });
      // Consent does not make a changed payload the original's.
      assert.equal(
        code(await fx.service.submit(buyer.actor, await forward(consent.id, auditor, { ...payload, site: 'Paris' }))),
        'ERR_EXCHANGE_MESSAGE_INVALID',
      );
      const fwd = await exchange(buyer, auditor, {
        kind: 'forward',
        originalId: data.id,
        consentId: consent.id,
        label: 'consumption',
        payload,
      });
      assert.equal(fwd.contentHash, contentHash({ payload }));
      const chain = value(await fx.service.provenance(fwd.id, auditor.did));
      assert.deepEqual(
        chain.map((m) => [m.kind, m.from, m.to]),
        [
          ['forward', buyer.did, auditor.did],
          ['data', supplier.did, buyer.did],
        ],
      );
      // Only the controller revokes, to the consent's recipient.
      assert.equal(
        code(
          await fx.service.submit(
            auditor.actor,
            await signMessage(auditor, buyer.did, { kind: 'consent.revoke', consentId: consent.id }),
          ),
        ),
        'ERR_EXCHANGE_NOT_FOUND',
      );
      await exchange(supplier, buyer, { kind: 'consent.revoke', consentId: consent.id });
      assert.equal((await fx.service.consents(buyer.did)).find((c) => c.id === consent.id)?.status, 'revoked');
      assert.equal(
        code(await fx.service.submit(buyer.actor, await forward(consent.id))),
        'ERR_EXCHANGE_CONSENT_REVOKED',
      );
      value(await fx.service.verifyTrail());
    });

    it('records one of two messages racing for the same process step and refuses the other', async () => {
      const processId = 'onb-race-0001';
      const q = await exchange(buyer, supplier, {
        kind: 'request',
        questionnaire: SUPPLIER_QUESTIONNAIRE,
        processId,
        template: 'supplier-onboarding',
      });
      const answers = {
        legalName: 'Solar Parts SARL',
        vatId: 'FR12345678901',
        employees: 42,
        iso14001: true,
        country: 'FR',
      };
      // An answer to a process's questionnaire belongs to the process.
      assert.equal(
        code(
          await fx.service.submit(
            supplier.actor,
            await signMessage(supplier, buyer.did, { kind: 'answer', requestId: q.id, answers }),
          ),
        ),
        'ERR_EXCHANGE_PROCESS_STEP',
      );
      const racing = await Promise.all(
        [1, 2].map(async () =>
          fx.service.submit(
            supplier.actor,
            await signMessage(supplier, buyer.did, { kind: 'answer', requestId: q.id, answers, processId }),
          ),
        ),
      );
      assert.deepEqual(racing.map(code).sort(), ['ERR_EXCHANGE_DUPLICATE', 'ok']);
      const p = value(await fx.service.process(processId, buyer.did));
      assert.equal(p.steps[1]!.state, 'sent');
      assert.equal((await fx.service.messages(buyer.did, { processId })).length, 2);
      value(await fx.service.verifyTrail());
    });

    it('detects an edited entry, a deleted entry, an edited message, and a truncated tail against the anchor', async () => {
      value(await fx.service.anchorTrail());
      const trail = fx.db.getRepository(TrailEntity);
      const messages = fx.db.getRepository(MessageEntity);
      const head = value(await fx.service.verifyTrail({ checkAnchor: true })).head;
      const tampered = async (reason: RegExp) => {
        const r = await fx.service.verifyTrail({ checkAnchor: true });
        assert.equal(code(r), 'ERR_EXCHANGE_TRAIL_TAMPERED');
        assert.ok(!r.ok);
        assert.match(r.error.message, reason);
        return r.error.details as { seq: number; reason: string };
      };

      const victim = await trail.findOneByOrFail({ seq: 5 });
      await trail.update({ seq: 5 }, { details: victim.details.replace(/"to":"[^"]+"/, `"to":"${rogue.did}"`) });
      assert.equal((await tampered(/content does not match its hash/)).seq, 5);
      await trail.update({ seq: 5 }, { details: victim.details });

      const six = await trail.findOneByOrFail({ seq: 6 });
      await trail.delete({ seq: 6 });
      assert.deepEqual(await tampered(/missing/), { seq: 6, reason: 'missing' });
      await trail.insert(six);
      value(await fx.service.verifyTrail({ checkAnchor: true }));

      const msg = (await messages.find({ take: 1, order: { receivedAt: 'ASC' } }))[0]!;
      await messages.update({ id: msg.id }, { jws: `${msg.jws.slice(0, -2)}AA` });
      await tampered(/was changed after it was recorded/);
      await messages.update({ id: msg.id }, { jws: msg.jws });

      const tail = await trail.findOneByOrFail({ seq: head.seq });
      await trail.delete({ seq: head.seq });
      assert.equal((await tampered(/anchored on chain/)).reason, 'truncated');
      await trail.insert(tail);
      value(await fx.service.verifyTrail({ checkAnchor: true }));
    });

    it('anchors the head periodically once it moved', async () => {
      await exchange(buyer, supplier, { kind: 'data', label: 'late news', payload: { ok: true } });
      const head = value(await fx.service.verifyTrail()).head;
      assert.ok(head.seq > (await fx.service.anchoredHead()).seq);
      fx.service.startAnchoring(20);
      try {
        // Waits for the outbox write the timer enqueues (event, not elapsed time, decides).
        const row = await fx.outbox.waitFor(`exchange-trail-anchor:${head.seq}`);
        assert.equal(row.status, 'mined');
      } finally {
        fx.service.stop();
      }
      assert.deepEqual(await fx.service.anchoredHead(), head);
      value(await fx.service.verifyTrail({ checkAnchor: true }));
    });
  });
}
