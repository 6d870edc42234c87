import { secp256k1 } from '@noble/curves/secp256k1';
import { sha256 } from '@noble/hashes/sha2';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils';
import { useEffect, useState } from 'preact/hooks';
import {
  api,
  type AuditEntry,
  type ExchangeConsent,
  type ExchangeMessage,
  type ExchangeProcess,
  type HostedKeyOffer,
  type Partner,
} from '../api';
import { signJwt } from '../crypto';
import { current, presentFor, useSession } from '../session';
import { ConfirmButton, Notice, Refusal, Section, short } from '../ui';

type Err = { code: string; message: string } | undefined;
type Answer<T> = { ok: true; value: T } | { ok: false; error: { code: string; message: string } };
/** The resource the exchange's access tokens are granted for (action `*`): the `data.exchange` policy. */
const EXCHANGE_RESOURCE = '/data/exchange';
const MESSAGE_TYP = 'tessera-exchange+jwt';
const ACK_TYP = 'tessera-exchange-ack+jwt';
const enc = new TextEncoder();
const hex = (text: string) => bytesToHex(sha256(enc.encode(text)));

/** A question of a questionnaire (the exchange's JSON Schema subset). */
interface Question {
  type: 'string' | 'number' | 'integer' | 'boolean';
  title: string;
  enum?: string[];
  format?: string;
}
interface Questionnaire {
  title: string;
  properties: Record<string, Question>;
  required?: string[];
}

/** One token for the page, presented for again when it ends (the wallet's DataPartner credential). */
let held: { token: string; until: number; did: string } | undefined;
async function exchangeToken(): Promise<{ ok: true; token: string } | { ok: false; code: string; message: string }> {
  const did = current().holder?.did;
  if (held && held.did === did && held.until > Date.now() + 10_000) return { ok: true, token: held.token };
  const t = await presentFor(EXCHANGE_RESOURCE, '*');
  if (!t.ok) return t;
  // the verifier's tokens last minutes; renewed here a little early
  held = { token: t.token, until: Date.now() + 4 * 60_000, did: t.holder };
  return { ok: true, token: t.token };
}
async function withToken<T>(run: (token: string) => Promise<Answer<T>>): Promise<Answer<T>> {
  const t = await exchangeToken();
  if (!t.ok) return { ok: false, error: t };
  const r = await run(t.token);
  if (!r.ok && /^ERR_AUTH_/.test(r.error.code)) held = undefined;
  return r;
}

/**
 * ERC-1056 "Add Delegate" digest, recomputed here from the offer's fields (never taken as given):
 * keccak256(0x19 0x00 registry nonce identity "addDelegate" bytes32(delegateType) delegate validity).
 */
export function addDelegateDigest(r: HostedKeyOffer['request']): Uint8Array {
  const address = (a: string) => hexToBytes(a.replace(/^0x/, '').toLowerCase().padStart(40, '0'));
  const uint256 = (n: bigint) => hexToBytes(n.toString(16).padStart(64, '0'));
  const type = new Uint8Array(32);
  type.set(enc.encode(r.delegateType));
  const parts = [
    Uint8Array.of(0x19, 0x00),
    address(r.registry),
    uint256(BigInt(r.nonce)),
    address(r.identity),
    enc.encode('addDelegate'),
    type,
    address(r.delegate),
    uint256(BigInt(r.validitySeconds)),
  ];
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return keccak_256(all);
}

/** The holder key's Ethereum address (the owner of its did:ethr until the owner is changed on chain). */
function addressOf(privateKey: string): string {
  const pub = secp256k1.getPublicKey(hexToBytes(privateKey.replace(/^0x/, '')), false);
  return `0x${bytesToHex(keccak_256(pub.slice(1)).slice(-20))}`;
}

/** Form values back to the questionnaire's types; empty fields are left out (the exchange checks what is required). */
function answersOf(q: Questionnaire, f: FormData): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [id, question] of Object.entries(q.properties)) {
    const raw = String(f.get(`q.${id}`) ?? '');
    if (raw === '') continue;
    if (question.type === 'boolean') out[id] = raw === 'true';
    else if (question.type === 'number' || question.type === 'integer') out[id] = Number(raw);
    else out[id] = raw;
  }
  return out;
}

function QuestionField({ id, q, form }: { id: string; q: Question; form: string }) {
  const fid = `${form}-${id}`;
  const name = `q.${id}`;
  let input: preact.JSX.Element;
  if (q.type === 'boolean')
    input = (
      <select id={fid} name={name}>
        <option value="">—</option>
        <option value="true">yes</option>
        <option value="false">no</option>
      </select>
    );
  else if (q.type === 'string' && q.enum)
    input = (
      <select id={fid} name={name}>
        <option value="">—</option>
        {q.enum.map((v) => (
          <option key={v}>{v}</option>
        ))}
      </select>
    );
  else if (q.type !== 'string') input = <input id={fid} name={name} type="number" step="any" />;
  else if (q.format === 'date') input = <input id={fid} name={name} type="date" />;
  else input = <input id={fid} name={name} type="text" />;
  return (
    <>
      <label for={fid}>{q.title}</label>
      {input}
    </>
  );
}

function describe(m: ExchangeMessage, nameOf: (did: string) => string): preact.JSX.Element {
  const b = (m.body ?? {}) as Record<string, unknown>;
  switch (m.kind) {
    case 'data':
    case 'forward': {
      const doc = b.document as { title?: string; sha256?: string } | undefined;
      return (
        <>
          <strong>{String(b.label ?? '')}</strong>{' '}
          {doc ? (
            <span>
              (document {doc.title}, sha256 <code>{String(doc.sha256 ?? '').slice(0, 16)}…</code>)
            </span>
          ) : (
            <code>{JSON.stringify(b.payload).slice(0, 200)}</code>
          )}
          {m.kind === 'forward' ? (
            <span>
              {' '}
              — forwarded from <code>{String(b.originalId)}</code>
            </span>
          ) : null}
        </>
      );
    }
    case 'request': {
      const q = b.questionnaire as Questionnaire | undefined;
      return (
        <span>
          questionnaire “{q?.title}” ({Object.keys(q?.properties ?? {}).length} questions)
        </span>
      );
    }
    case 'answer':
      return (
        <span>
          answers to <code>{String(b.requestId)}</code>: <code>{JSON.stringify(b.answers).slice(0, 160)}</code>
        </span>
      );
    case 'decision':
      return <span>{b.approved ? 'approved' : `rejected ${String(b.reason ?? '')}`}</span>;
    case 'consent.grant':
      return (
        <span>
          consent for “{String(b.purpose)}”, third parties {b.thirdPartyDisclosure ? 'allowed' : 'not allowed'}, until{' '}
          {String(b.expiresAt).slice(0, 10)}
        </span>
      );
    case 'consent.revoke':
      return (
        <span>
          revokes consent <code>{String(b.consentId)}</code> ({nameOf(m.from)})
        </span>
      );
  }
  return <span>{m.kind}</span>;
}

/** Labelled select of the other partners. */
function To({ id, others }: { id: string; others: Partner[] }) {
  return (
    <>
      <label for={id}>To</label>
      <select id={id} name="to" required>
        <option value="">—</option>
        {others.map((p) => (
          <option key={p.did} value={p.did}>
            {p.name} ({short(p.did, 14)})
          </option>
        ))}
      </select>
    </>
  );
}

/**
 * The data exchange between organisations: partners, messages (data inline or as a document's hash, questionnaires
 * and their answers, decisions, consents, forwards under consent) signed in the browser with the wallet's own DID key
 * or, once the wallet authorised it on chain, with the key the stack holds for the organisation; acknowledgements,
 * processes, consents and the verifiable trail with its export.
 */
export function Exchange() {
  const s = useSession();
  const me = s.holder?.did;
  const [partners, setPartners] = useState<Partner[]>([]);
  const [messages, setMessages] = useState<ExchangeMessage[]>([]);
  const [consents, setConsents] = useState<ExchangeConsent[]>([]);
  const [processes, setProcesses] = useState<ExchangeProcess[]>([]);
  const [error, setError] = useState<Err>();
  /** Why the last read of the exchange failed (apart from an action's refusal, which stays until the next action). */
  const [loadError, setLoadError] = useState<Err>();
  const [notice, setNotice] = useState<string>();
  const [loaded, setLoaded] = useState(false);
  const [hosted, setHosted] = useState<HostedKeyOffer>();
  /** What the request form starts with: the exchange's supplier-onboarding questionnaire (editable). */
  const [template, setTemplate] = useState<string>();
  const [useHosted, setUseHosted] = useState(false);

  const load = async () => {
    const [p, m, c, pr] = await Promise.all([
      withToken((t) => api.partners(t)),
      withToken((t) => api.messages(t)),
      withToken((t) => api.consents(t)),
      withToken((t) => api.processes(t)),
    ]);
    if (p.ok) setPartners(p.value.partners);
    if (m.ok) setMessages(m.value.messages);
    if (c.ok) setConsents(c.value.consents);
    if (pr.ok) setProcesses(pr.value.processes);
    const failed = [p, m, c, pr].find((r) => !r.ok);
    setLoadError(failed && !failed.ok ? failed.error : undefined);
    setLoaded(true);
  };
  useEffect(() => {
    void withToken((t) => api.supplierQuestionnaire(t)).then((r) => {
      if (r.ok) setTemplate(JSON.stringify(r.value, null, 1));
    });
  }, [me]);
  useEffect(() => {
    let alive = true;
    void load();
    const t = setInterval(() => alive && void load(), 3_000);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, [me]);

  const done = async (r: { ok: boolean; error?: { code: string; message: string } }, text: string) => {
    if (!r.ok) {
      setNotice(undefined);
      setError(r.error);
      return;
    }
    setError(undefined);
    setNotice(text);
    await load();
  };
  /** Sign `body` for `to` (in the browser, or with the stack's key for this DID) and submit it. */
  const send = async (to: string, body: Record<string, unknown>, text: string) => {
    const holder = current().holder;
    if (!holder) return;
    if (useHosted) return done(await withToken((t) => api.sendHosted(t, to, body)), text);
    const jws = signJwt(holder, { aud: to, jti: `msg-${crypto.randomUUID()}`, tex: body }, MESSAGE_TYP);
    await done(await withToken((t) => api.sendMessage(t, jws)), text);
  };
  const acknowledge = async (m: ExchangeMessage) => {
    const holder = current().holder;
    if (!holder) return;
    if (useHosted) return done(await withToken((t) => api.ackHosted(t, m.id)), `Acknowledged ${m.id}.`);
    const jws = signJwt(holder, { aud: m.from, ack: { messageId: m.id, messageHash: hex(m.jws) } }, ACK_TYP);
    await done(await withToken((t) => api.ackMessage(t, m.id, jws)), `Acknowledged ${m.id}.`);
  };

  const self = partners.find((p) => p.did === me);
  const others = partners.filter((p) => p.did !== me);
  const nameOf = (did: string) => partners.find((p) => p.did === did)?.name ?? short(did, 20);
  const answered = new Set(messages.filter((m) => m.kind === 'answer').map((m) => m.refId));
  const toAnswer = messages.filter(
    (m) => m.kind === 'request' && m.to === me && m.status === 'acknowledged' && !answered.has(m.id),
  );
  const received = messages.filter((m) => (m.kind === 'data' || m.kind === 'forward') && m.to === me);
  const running = processes.filter((p) => p.status === 'running');
  // every consent given to this organisation, revoked ones too: the exchange decides (and says why it refuses)
  const consentsToMe = consents.filter((c) => c.recipient === me);
  const text = (f: FormData, k: string) => String(f.get(k) ?? '').trim();

  return (
    <>
      <h1>Data exchange</h1>
      <p class="muted">
        Signed in to the exchange with the wallet's DataPartner credential as <code>{me ? short(me, 30) : '–'}</code>.
        Messages and acknowledgements are signed{' '}
        {useHosted ? 'with the key the stack holds for this DID' : "here with the wallet's own key"}.
      </p>
      <Refusal error={error ?? loadError} />
      <Notice text={notice} />
      <Section title="Your organisation" id="partner">
        <form
          class="filters"
          id="partner-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const name = String(new FormData(e.currentTarget).get('name') ?? '').trim();
            await done(await withToken((t) => api.registerPartner(t, name)), `Registered as ${name}.`);
          }}
        >
          <label for="partner-name">Name shown to partners</label>
          <input id="partner-name" name="name" required maxLength={200} defaultValue={self?.name ?? ''} />
          <button type="submit">{self ? 'Update' : 'Register'}</button>
        </form>
        {self ? <p data-registered>Registered; partners can address you.</p> : null}
        <p class="muted">
          {others.length} other partner(s): {others.map((p) => p.name).join(', ') || '—'}
        </p>
      </Section>
      <Section title="Key the stack holds for you" id="hosted-key">
        <p>
          The stack can sign for this organisation with a key it keeps sealed, once the wallet's key authorises it on
          chain as a <code>veriKey</code> delegate of this DID (ERC-1056, relayed by the stack; revocable on chain at
          any time). The digest is recomputed here from the offer's fields before the wallet signs it.
        </p>
        <div class="actions">
          <button
            type="button"
            id="hosted-key-ask"
            onClick={async () => {
              const r = await withToken((t) => api.hostedKeyOffer(t));
              if (r.ok) setHosted(r.value);
              await done(
                r,
                r.ok ? (r.value.active ? 'The stack holds an authorised key for you.' : 'Offer received.') : '',
              );
            }}
          >
            Ask for the stack's key
          </button>
          {hosted && !hosted.active ? (
            <ConfirmButton
              name="hosted-key-authorise"
              label="Authorise it"
              question={`Let the stack's key ${short(hosted.request.delegate, 10)} sign for ${short(hosted.did, 20)} for ${Math.round(hosted.request.validitySeconds / 86_400)} days?`}
              onConfirm={async () => {
                const holder = current().holder;
                if (!holder) return;
                const own = addressOf(holder.privateKey);
                if (hosted.owner.toLowerCase() !== own || hosted.request.identity.toLowerCase() !== own) {
                  return setError({
                    code: 'ERR_WALLET_DELEGATION_REFUSED',
                    message: `the offer is for ${hosted.request.identity} owned by ${hosted.owner}, not this wallet (${own})`,
                  });
                }
                const sig = secp256k1.sign(
                  addDelegateDigest(hosted.request),
                  hexToBytes(holder.privateKey.replace(/^0x/, '')),
                  {
                    lowS: true,
                  },
                );
                const signature = `0x${bytesToHex(sig.toCompactRawBytes())}${(27 + sig.recovery).toString(16)}`;
                const r = await withToken((t) => api.hostedKeyConfirm(t, signature));
                if (r.ok) setHosted({ ...hosted, active: true });
                await done(
                  r,
                  r.ok ? `The stack's key is authorised (transaction ${short(r.value.txHash ?? '', 10)}).` : '',
                );
              }}
            />
          ) : null}
        </div>
        {hosted ? (
          <dl class="facts" id="hosted-key-offer">
            <dt>Delegate</dt>
            <dd>
              <code>{hosted.request.delegate}</code>
            </dd>
            <dt>Authorised on chain</dt>
            <dd data-hosted-active={String(hosted.active)}>{hosted.active ? 'yes' : 'no'}</dd>
          </dl>
        ) : null}
        <label class="field check" for="use-hosted">
          <input
            id="use-hosted"
            type="checkbox"
            checked={useHosted}
            disabled={!hosted?.active}
            onChange={(e) => setUseHosted(e.currentTarget.checked)}
          />{' '}
          Sign with the key the stack holds (instead of the wallet's own key)
        </label>
      </Section>
      <Section title="Send data" id="send-data">
        <form
          id="send-data-form"
          class="grid-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const f = new FormData(e.currentTarget);
            const label = text(f, 'label');
            const documentText = text(f, 'documentText');
            const processId = text(f, 'processId');
            let content: Record<string, unknown>;
            if (documentText) {
              content = {
                document: {
                  sha256: hex(documentText),
                  mediaType: 'text/plain',
                  title: text(f, 'documentTitle') || label,
                  size: enc.encode(documentText).length,
                },
              };
            } else {
              try {
                content = { payload: JSON.parse(String(f.get('payload') ?? '')) };
              } catch {
                return setError({ code: 'ERR_JSON_MALFORMED', message: 'the payload is not JSON' });
              }
            }
            await send(
              text(f, 'to'),
              { kind: 'data', label, ...content, ...(processId ? { processId } : {}) },
              `Sent “${label}”.`,
            );
          }}
        >
          <To id="send-to" others={others} />
          <label for="send-label">Label</label>
          <input id="send-label" name="label" required maxLength={200} />
          <label for="send-payload">Payload (JSON)</label>
          <textarea id="send-payload" name="payload" rows={3} />
          <label for="send-document">…or a document: its text (only its SHA-256 is sent)</label>
          <textarea id="send-document" name="documentText" rows={2} />
          <label for="send-title">Document title</label>
          <input id="send-title" name="documentTitle" maxLength={200} />
          <label for="send-process">Step of process</label>
          <select id="send-process" name="processId">
            <option value="">—</option>
            {running.map((p) => (
              <option key={p.id} value={p.id}>
                {p.id}
              </option>
            ))}
          </select>
          <span />
          <button type="submit">Sign and send</button>
        </form>
      </Section>
      <Section title="Request information (questionnaire)" id="send-request">
        <form
          id="send-request-form"
          class="grid-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const f = new FormData(e.currentTarget);
            let questionnaire: unknown;
            try {
              questionnaire = JSON.parse(String(f.get('questionnaire') ?? ''));
            } catch {
              return setError({ code: 'ERR_JSON_MALFORMED', message: 'the questionnaire is not JSON' });
            }
            const onboarding = f.get('onboarding') === '1';
            await send(
              text(f, 'to'),
              {
                kind: 'request',
                questionnaire,
                ...(onboarding
                  ? { processId: `onboarding-${crypto.randomUUID()}`, template: 'supplier-onboarding' }
                  : {}),
              },
              'Questionnaire signed and sent.',
            );
          }}
        >
          <To id="request-to" others={others} />
          <label for="request-questionnaire">Questionnaire (JSON Schema subset)</label>
          <textarea
            id="request-questionnaire"
            name="questionnaire"
            rows={8}
            key={template === undefined ? 'empty' : 'template'}
            defaultValue={template ?? ''}
          />
          <label for="request-onboarding">Start a supplier-onboarding process</label>
          <input id="request-onboarding" name="onboarding" type="checkbox" value="1" />
          <span />
          <button type="submit">Sign and send request</button>
        </form>
      </Section>
      {toAnswer.length > 0 ? (
        <Section title="Questionnaires to answer" id="answers">
          {toAnswer.map((r) => {
            const q = (r.body as unknown as { questionnaire: Questionnaire }).questionnaire;
            const fid = `answer-${r.id}`;
            return (
              <form
                key={r.id}
                id={fid}
                data-request={r.id}
                class="grid-form"
                onSubmit={async (e) => {
                  e.preventDefault();
                  const answers = answersOf(q, new FormData(e.currentTarget));
                  await send(
                    r.from,
                    { kind: 'answer', requestId: r.id, answers, ...(r.processId ? { processId: r.processId } : {}) },
                    'Answer signed and sent.',
                  );
                }}
              >
                <h3>
                  {q.title} from {nameOf(r.from)}
                </h3>
                <span />
                {Object.entries(q.properties).map(([id, question]) => (
                  <QuestionField key={id} id={id} q={question} form={fid} />
                ))}
                <span />
                <button type="submit">Sign and send answer</button>
              </form>
            );
          })}
        </Section>
      ) : null}
      <Section title="Messages" id="messages">
        <table>
          <thead>
            <tr>
              <th scope="col">Sent</th>
              <th scope="col">Direction</th>
              <th scope="col">Party</th>
              <th scope="col">Kind</th>
              <th scope="col">Content</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {messages.map((m) => {
              const incoming = m.to === me;
              return (
                <tr key={m.id} data-message={m.id} data-kind={m.kind} data-direction={incoming ? 'in' : 'out'}>
                  <td>{new Date(m.sentAt).toLocaleString()}</td>
                  <td>{incoming ? 'received' : 'sent'}</td>
                  <td title={incoming ? m.from : m.to}>{nameOf(incoming ? m.from : m.to)}</td>
                  <td>{m.kind}</td>
                  <td>
                    {describe(m, nameOf)}
                    {m.processId ? (
                      <>
                        <br />
                        process <code>{m.processId}</code>
                      </>
                    ) : null}
                  </td>
                  <td data-status={m.status}>
                    {m.status}
                    {incoming && m.status === 'sent' ? (
                      <>
                        {' '}
                        <button type="button" data-action="ack" onClick={() => void acknowledge(m)}>
                          Acknowledge
                        </button>
                      </>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {loaded && messages.length === 0 ? <p class="muted">No message yet.</p> : null}
      </Section>
      <Section title="Processes" id="processes">
        {processes.length === 0 ? (
          <p class="muted">No process yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Process</th>
                <th scope="col">Parties</th>
                <th scope="col">Status</th>
                <th scope="col">Steps</th>
              </tr>
            </thead>
            <tbody>
              {processes.map((p) => (
                <tr key={p.id} data-process={p.id}>
                  <th scope="row">
                    <code>{p.id}</code>
                    <br />
                    {p.template}
                  </th>
                  <td>
                    {nameOf(p.initiator)} ⇄ {nameOf(p.counterparty)}
                  </td>
                  <td data-status={p.status}>{p.status}</td>
                  <td>
                    {p.steps.map((st) => (
                      <div key={st.name} data-step={st.name} data-state={st.state}>
                        {st.name}: {st.state}
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {running.length > 0 ? (
          <form
            id="decision-form"
            class="grid-form"
            onSubmit={async (e) => {
              e.preventDefault();
              const submitter = (e as unknown as SubmitEvent).submitter as HTMLButtonElement | null;
              const f = new FormData(e.currentTarget);
              const p = running.find((x) => x.id === text(f, 'processId'));
              if (!p) return setError({ code: 'ERR_VALIDATION', message: 'choose a running process' });
              const reason = text(f, 'reason');
              const approved = submitter?.value === 'true';
              await send(
                p.initiator === me ? p.counterparty : p.initiator,
                { kind: 'decision', approved, processId: p.id, ...(reason ? { reason } : {}) },
                'Decision signed and sent.',
              );
            }}
          >
            <label for="decision-process">Decide on</label>
            <select id="decision-process" name="processId" required>
              <option value="">—</option>
              {running.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.id}
                </option>
              ))}
            </select>
            <label for="decision-reason">Reason</label>
            <input id="decision-reason" name="reason" maxLength={1000} />
            <span />
            <div class="actions">
              <button type="submit" id="approve" value="true">
                Approve
              </button>
              <button type="submit" id="reject" value="false" class="danger">
                Reject
              </button>
            </div>
          </form>
        ) : null}
      </Section>
      <Section title="Grant consent" id="send-consent">
        <form
          id="send-consent-form"
          class="grid-form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (!me) return;
            const f = new FormData(e.currentTarget);
            const parties = text(f, 'thirdParties')
              .split(/\s+/)
              .filter((d) => d !== '');
            const days = Number(text(f, 'days') || '30');
            await send(
              text(f, 'to'),
              {
                kind: 'consent.grant',
                subject: me,
                purpose: text(f, 'purpose'),
                purposeCategory: text(f, 'purposeCategory'),
                jurisdiction: text(f, 'jurisdiction'),
                thirdPartyDisclosure: f.get('thirdPartyDisclosure') === '1',
                ...(parties.length > 0 ? { thirdParties: parties } : {}),
                expiresAt: new Date(Date.now() + days * 86_400_000).toISOString(),
              },
              'Consent signed and granted.',
            );
          }}
        >
          <To id="consent-to" others={others} />
          <label for="consent-purpose">Purpose</label>
          <input id="consent-purpose" name="purpose" required maxLength={500} />
          <label for="consent-category">Purpose category</label>
          <input id="consent-category" name="purposeCategory" required maxLength={100} defaultValue="compliance" />
          <label for="consent-jurisdiction">Jurisdiction</label>
          <input id="consent-jurisdiction" name="jurisdiction" required maxLength={10} defaultValue="EU" />
          <label for="consent-days">Valid for (days)</label>
          <input id="consent-days" name="days" type="number" min={1} max={3650} required defaultValue="30" />
          <label for="consent-third">Allow disclosure to third parties</label>
          <input id="consent-third" name="thirdPartyDisclosure" type="checkbox" value="1" />
          <label for="consent-parties">Only to (DIDs, one per line; empty = any partner)</label>
          <textarea id="consent-parties" name="thirdParties" rows={2} />
          <span />
          <button type="submit">Sign and grant</button>
        </form>
      </Section>
      <Section title="Forward data under consent" id="send-forward">
        <form
          id="send-forward-form"
          class="grid-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const f = new FormData(e.currentTarget);
            const original = received.find((m) => m.id === text(f, 'originalId'));
            if (!original) return setError({ code: 'ERR_VALIDATION', message: 'choose data you received' });
            const b = (original.body ?? {}) as { label?: string; payload?: unknown; document?: unknown };
            await send(
              text(f, 'to'),
              {
                kind: 'forward',
                originalId: original.id,
                consentId: text(f, 'consentId'),
                label: b.label,
                ...(b.document ? { document: b.document } : { payload: b.payload }),
              },
              'Data forwarded under consent.',
            );
          }}
        >
          <label for="forward-original">Data received</label>
          <select id="forward-original" name="originalId" required>
            <option value="">—</option>
            {received.map((m) => (
              <option key={m.id} value={m.id}>
                {m.body && 'label' in m.body ? m.body.label : m.id} from {nameOf(m.from)}
              </option>
            ))}
          </select>
          <label for="forward-consent">Consent</label>
          <select id="forward-consent" name="consentId" required>
            <option value="">—</option>
            {consentsToMe.map((c) => (
              <option key={c.id} value={c.id}>
                {c.purpose} (from {nameOf(c.controller)}, {c.status})
              </option>
            ))}
          </select>
          <To id="forward-to" others={others} />
          <span />
          <button type="submit">Sign and forward</button>
        </form>
      </Section>
      <Section title="Consents" id="consents">
        {consents.length === 0 ? (
          <p class="muted">No consent yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Controller → recipient</th>
                <th scope="col">Purpose</th>
                <th scope="col">Third parties</th>
                <th scope="col">Expires</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {consents.map((c) => (
                <tr key={c.id} data-consent={c.id}>
                  <th scope="row">{c.id}</th>
                  <td>
                    {nameOf(c.controller)} → {nameOf(c.recipient)}
                  </td>
                  <td>{c.purpose}</td>
                  <td>
                    {c.thirdPartyDisclosure
                      ? `yes${c.thirdParties ? `: ${c.thirdParties.map(nameOf).join(', ')}` : ''}`
                      : 'no'}
                  </td>
                  <td>{new Date(c.expiresAt).toLocaleString()}</td>
                  <td data-status={c.status}>
                    {c.status}{' '}
                    {c.status === 'active' && c.controller === me ? (
                      <ConfirmButton
                        name="revoke-consent"
                        label="Revoke"
                        danger
                        question={`Revoke the consent for “${c.purpose}”?`}
                        onConfirm={() =>
                          send(c.recipient, { kind: 'consent.revoke', consentId: c.id }, 'Consent revoked.')
                        }
                      />
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Trail" id="trail">
        <p>Every message and acknowledgement is in a hash-chained trail, anchored on chain.</p>
        <div class="actions">
          <button
            type="button"
            id="verify-trail"
            onClick={async () => {
              const r = await withToken((t) => api.verifyTrail(t));
              await done(
                r,
                r.ok
                  ? `Trail verified: ${r.value.length} entries, head ${r.value.head.seq}${
                      r.value.anchored?.seq ? `, anchored on chain up to ${r.value.anchored.seq}` : ', not anchored yet'
                    }.`
                  : '',
              );
            }}
          >
            Verify the trail
          </button>
          <button
            type="button"
            id="export-trail"
            onClick={async () => {
              const r = await withToken((t) => api.trail(t));
              if (!r.ok) return setError(r.error);
              const entries: AuditEntry[] = r.value.entries;
              const a = document.createElement('a');
              a.href = URL.createObjectURL(
                new Blob([JSON.stringify({ party: me, entries }, null, 2)], { type: 'application/json' }),
              );
              a.download = 'tessera-exchange-trail.json';
              a.click();
              // released once the browser has taken the download
              setTimeout(() => URL.revokeObjectURL(a.href), 30_000);
              setNotice(`Exported ${entries.length} trail entries.`);
            }}
          >
            Export your trail entries (JSON)
          </button>
        </div>
      </Section>
    </>
  );
}
