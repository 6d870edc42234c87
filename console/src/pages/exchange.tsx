import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex } from '@noble/hashes/utils';
import { useEffect, useState } from 'preact/hooks';
import { api, type ExchangeMessage, type Partner } from '../api';
import { signJwt } from '../crypto';
import { current, presentFor, useSession } from '../session';
import { Notice, Refusal, Section, short } from '../ui';

type Err = { code: string; message: string } | undefined;
/** The resource the exchange's access tokens are granted for (action `*`): the `data.exchange` policy. */
const EXCHANGE_RESOURCE = '/data/exchange';
const MESSAGE_TYP = 'tessera-exchange+jwt';
const ACK_TYP = 'tessera-exchange-ack+jwt';

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
async function withToken<T>(
  run: (token: string) => Promise<{ ok: true; value: T } | { ok: false; error: { code: string; message: string } }>,
): Promise<{ ok: true; value: T } | { ok: false; error: { code: string; message: string } }> {
  const t = await exchangeToken();
  if (!t.ok) return { ok: false, error: t };
  const r = await run(t.token);
  if (!r.ok && /^ERR_AUTH_/.test(r.error.code)) held = undefined;
  return r;
}

/**
 * The data exchange between organisations: partners, messages signed in the browser with the wallet's own DID key
 * (the exchange checks them against the DID document), acknowledgements, consents and the verifiable trail.
 */
export function Exchange() {
  const s = useSession();
  const me = s.holder?.did;
  const [partners, setPartners] = useState<Partner[]>([]);
  const [messages, setMessages] = useState<ExchangeMessage[]>([]);
  const [consents, setConsents] = useState<Record<string, unknown>[]>([]);
  const [error, setError] = useState<Err>();
  const [notice, setNotice] = useState<string>();
  const [loaded, setLoaded] = useState(false);

  const load = async () => {
    const [p, m, c] = await Promise.all([
      withToken((t) => api.partners(t)),
      withToken((t) => api.messages(t)),
      withToken((t) => api.consents(t)),
    ]);
    if (p.ok) setPartners(p.value.partners);
    if (m.ok) setMessages(m.value.messages);
    if (c.ok) setConsents(c.value.consents);
    const failed = [p, m, c].find((r) => !r.ok);
    setError(failed && !failed.ok ? failed.error : undefined);
    setLoaded(true);
  };
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
  const self = partners.find((p) => p.did === me);
  const others = partners.filter((p) => p.did !== me);
  return (
    <>
      <h1>Data exchange</h1>
      <p class="muted">
        Signed in to the exchange with the wallet's DataPartner credential as <code>{me ? short(me, 30) : '–'}</code>.
        Messages and acknowledgements are signed here with the wallet's own key.
      </p>
      <Refusal error={error} />
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
      </Section>
      <Section title="Send data" id="send-data">
        <form
          id="send-data-form"
          class="grid-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const holder = current().holder;
            if (!holder) return;
            const f = new FormData(e.currentTarget);
            const to = String(f.get('to') ?? '');
            const label = String(f.get('label') ?? '').trim();
            let payload: unknown;
            try {
              payload = JSON.parse(String(f.get('payload') ?? ''));
            } catch {
              return setError({ code: 'ERR_JSON_MALFORMED', message: 'the payload is not JSON' });
            }
            const jws = signJwt(
              holder,
              { aud: to, jti: `msg-${crypto.randomUUID()}`, tex: { kind: 'data', label, payload } },
              MESSAGE_TYP,
            );
            await done(await withToken((t) => api.sendMessage(t, jws)), `Sent “${label}”.`);
          }}
        >
          <label for="send-to">To</label>
          <select id="send-to" name="to" required>
            <option value="">—</option>
            {others.map((p) => (
              <option key={p.did} value={p.did}>
                {p.name} ({short(p.did, 14)})
              </option>
            ))}
          </select>
          <label for="send-label">Label</label>
          <input id="send-label" name="label" required maxLength={200} />
          <label for="send-payload">Payload (JSON)</label>
          <textarea id="send-payload" name="payload" rows={4} required />
          <span />
          <button type="submit">Sign and send</button>
        </form>
      </Section>
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
              const party = partners.find((p) => p.did === (incoming ? m.from : m.to));
              return (
                <tr key={m.id} data-message={m.id} data-direction={incoming ? 'in' : 'out'}>
                  <td>{new Date(m.sentAt).toLocaleString()}</td>
                  <td>{incoming ? 'received' : 'sent'}</td>
                  <td title={incoming ? m.from : m.to}>{party?.name ?? short(incoming ? m.from : m.to, 20)}</td>
                  <td>{m.kind}</td>
                  <td>
                    {m.body?.label ? <strong>{m.body.label}</strong> : null}{' '}
                    {m.body?.payload !== undefined ? <code>{JSON.stringify(m.body.payload).slice(0, 200)}</code> : null}
                  </td>
                  <td data-status={m.status}>
                    {m.status}
                    {incoming && m.status === 'sent' ? (
                      <>
                        {' '}
                        <button
                          type="button"
                          data-action="ack"
                          onClick={async () => {
                            const holder = current().holder;
                            if (!holder) return;
                            const messageHash = bytesToHex(sha256(new TextEncoder().encode(m.jws)));
                            const jws = signJwt(
                              holder,
                              { aud: m.from, ack: { messageId: m.id, messageHash } },
                              ACK_TYP,
                            );
                            await done(await withToken((t) => api.ackMessage(t, m.id, jws)), `Acknowledged ${m.id}.`);
                          }}
                        >
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
                <th scope="col">Expires</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {consents.map((c) => (
                <tr key={String(c.id)}>
                  <th scope="row">{String(c.id)}</th>
                  <td>
                    {short(String(c.controller), 14)} → {short(String(c.recipient), 14)}
                  </td>
                  <td>{String(c.purpose)}</td>
                  <td>{new Date(String(c.expiresAt)).toLocaleString()}</td>
                  <td>{String(c.status)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Trail" id="trail">
        <p>Every message and acknowledgement is in a hash-chained trail, anchored on chain.</p>
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
      </Section>
    </>
  );
}
