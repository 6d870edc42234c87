import { useEffect, useState } from 'preact/hooks';
import { api, type Offering } from '../api';
import { signJwt } from '../crypto';
import { current, presentFor, useSession } from '../session';
import { Notice, Refusal, Section, short } from '../ui';

type Err = { code: string; message: string } | undefined;
/**
 * Whether the policy lets the wallet's credentials take an action of the offerings API (`offerings.create`,
 * `.certify`, `.subscribe`, `.allocate`): the stack's credential core decided it for them without a presentation; the
 * route's guard decides again when the action is taken.
 */
const allowed = (s: ReturnType<typeof useSession>, capability: string) => s.walletAccess?.allowed[capability] === true;
const offeringUrn = (id: string) => `urn:tessera:offering:${id}`;

async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}
const isoOf = (local: string) => (local ? new Date(local).toISOString() : '');
const localIn = (ms: number) => {
  const d = new Date(Date.now() + ms);
  d.setSeconds(0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

/** Run one action of the offerings API with a token the wallet presents its credential for. */
async function withToken<T>(
  resource: string,
  action: string,
  run: (token: string) => Promise<{ ok: true; value: T } | { ok: false; error: { code: string; message: string } }>,
): Promise<{ ok: true; value: T } | { ok: false; error: { code: string; message: string } }> {
  const t = await presentFor(resource, action);
  if (!t.ok) return { ok: false, error: t };
  return run(t.token);
}

function CreateOffering({ onCreated }: { onCreated: (o: Offering) => void }) {
  const [error, setError] = useState<Err>();
  const [notice, setNotice] = useState<string>();
  return (
    <Section title="Create an offering" id="create-offering">
      <p>
        The terms are checked by the offerings service; the wallet presents its OfferingIssuer credential, and its
        holder becomes the offering's issuer. The prospectus is recorded by its SHA-256 (computed here, not uploaded).
      </p>
      <form
        id="create-offering-form"
        class="grid-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(undefined);
          setNotice(undefined);
          const form = e.currentTarget;
          const f = new FormData(form);
          const text = (k: string) => String(f.get(k) ?? '').trim();
          const num = (k: string) => (text(k) === '' ? Number.NaN : Number(text(k)));
          const file = (form.elements.namedItem('prospectus') as HTMLInputElement).files?.[0];
          const terms = {
            id: text('id'),
            name: text('name'),
            kind: text('kind'),
            token: { name: text('tokenName'), symbol: text('symbol'), decimals: num('decimals') },
            amount: num('amount'),
            unitPrice: { amount: num('unitPrice'), currency: text('currency') },
            minSubscription: num('minSubscription'),
            maxSubscription: num('maxSubscription'),
            opensAt: isoOf(text('opensAt')),
            closesAt: isoOf(text('closesAt')),
            allowedJurisdictions: text('jurisdictions')
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
            certificationRequired: f.get('certificationRequired') === 'on',
            documents: file ? [{ title: 'prospectus', sha256: await sha256Hex(await file.arrayBuffer()) }] : [],
          };
          const r = await withToken('/offerings', 'POST', (token) => api.createOffering(token, terms));
          if (!r.ok) return setError(r.error);
          setNotice(`Created ${r.value.id}; its token is at ${r.value.tokenAddress ?? '(pending)'}.`);
          onCreated(r.value);
        }}
      >
        <label for="o-id">Id</label>
        <input id="o-id" name="id" required maxLength={64} placeholder="solar-bond-2027" />
        <label for="o-name">Name</label>
        <input id="o-name" name="name" required maxLength={200} />
        <label for="o-kind">Kind</label>
        <select id="o-kind" name="kind">
          {['green-bond', 'bond', 'equity', 'fund', 'other'].map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <label for="o-token-name">Token name</label>
        <input id="o-token-name" name="tokenName" required maxLength={100} />
        <label for="o-symbol">Token symbol</label>
        <input id="o-symbol" name="symbol" required maxLength={11} />
        <label for="o-decimals">Token decimals</label>
        <input id="o-decimals" name="decimals" type="number" min={0} max={18} defaultValue="0" required />
        <label for="o-amount">Units offered</label>
        <input id="o-amount" name="amount" type="number" min={1} required />
        <label for="o-price">Unit price (minor units)</label>
        <input id="o-price" name="unitPrice" type="number" min={1} required />
        <label for="o-currency">Currency</label>
        <input id="o-currency" name="currency" required maxLength={3} defaultValue="EUR" />
        <label for="o-min">Smallest ticket (units)</label>
        <input id="o-min" name="minSubscription" type="number" min={1} required defaultValue="1" />
        <label for="o-max">Largest ticket (units)</label>
        <input id="o-max" name="maxSubscription" type="number" min={1} required />
        <label for="o-opens">Opens at</label>
        <input id="o-opens" name="opensAt" type="datetime-local" step={1} required defaultValue={localIn(-60_000)} />
        <label for="o-closes">Closes at</label>
        <input
          id="o-closes"
          name="closesAt"
          type="datetime-local"
          step={1}
          required
          defaultValue={localIn(7 * 86_400_000)}
        />
        <label for="o-jurisdictions">Allowed jurisdictions (comma-separated)</label>
        <input id="o-jurisdictions" name="jurisdictions" required defaultValue="FR, DE, NL" />
        <label for="o-prospectus">Prospectus</label>
        <input id="o-prospectus" name="prospectus" type="file" required />
        <label for="o-cert">Certification required</label>
        <input id="o-cert" name="certificationRequired" type="checkbox" defaultChecked />
        <span />
        <button type="submit">Create</button>
      </form>
      <Refusal error={error} />
      <Notice text={notice} />
    </Section>
  );
}

/** The actions on one offering that the wallet's credentials may take, each with its own presented token. */
function OfferingActions({ offering, onChange }: { offering: Offering; onChange: () => Promise<void> }) {
  const s = useSession();
  const can = (capability: string) => allowed(s, capability);
  const [error, setError] = useState<Err>();
  const [notice, setNotice] = useState<string>();
  const [holdings, setHoldings] = useState<{ wallet: string; balance: string }[]>();
  const id = offering.id;
  const done = async (r: { ok: true } | { ok: false; error: { code: string; message: string } }, text: string) => {
    if (!r.ok) {
      setNotice(undefined);
      return setError(r.error);
    }
    setError(undefined);
    setNotice(text);
    await onChange();
  };
  useEffect(() => {
    void api.holdings(id).then((r) => (r.ok ? setHoldings(r.value.items) : setError(r.error)));
  }, [id, offering.status]);
  const documents = ((offering.terms.documents ?? []) as { sha256: string }[]).map((d) => d.sha256);
  return (
    <Section title={`Offering ${id}`} id="offering">
      <dl class="facts">
        <dt>Status</dt>
        <dd data-offering-status>{offering.status}</dd>
        <dt>Certified</dt>
        <dd data-offering-certified>{offering.certified ? 'yes' : 'no'}</dd>
        <dt>Issuer</dt>
        <dd title={offering.issuer}>{short(offering.issuer, 30)}</dd>
        <dt>Subscribed / remaining</dt>
        <dd data-offering-subscribed>
          {offering.subscribed} / {offering.remaining}
        </dd>
        <dt>Closes</dt>
        <dd>{new Date(String(offering.terms.closesAt)).toLocaleString()}</dd>
        <dt>Token</dt>
        <dd>{offering.tokenAddress ?? '–'}</dd>
      </dl>
      <div class="actions">
        {can('offerings.certify') ? (
          <form
            id="certify"
            class="filters"
            onSubmit={async (e) => {
              e.preventDefault();
              const holder = current().holder;
              if (!holder) return;
              const scheme = String(new FormData(e.currentTarget).get('scheme') ?? '').trim();
              const now = Math.floor(Date.now() / 1000);
              // the certification: an OfferingCertificationCredential the certifier signs with its own DID key
              const credential = signJwt(holder, {
                sub: offeringUrn(id),
                jti: `urn:uuid:${crypto.randomUUID()}`,
                nbf: now - 60,
                exp: now + 365 * 86_400,
                vc: {
                  '@context': ['https://www.w3.org/2018/credentials/v1'],
                  type: ['VerifiableCredential', 'OfferingCertificationCredential'],
                  credentialSubject: { scheme, documentsSha256: documents },
                },
              });
              await done(
                await withToken(`/offerings/${id}/certification`, 'POST', (t) =>
                  api.certifyOffering(t, id, credential),
                ),
                `Certified ${id} under ${scheme}.`,
              );
            }}
          >
            <label for="certify-scheme">Certification scheme</label>
            <input
              id="certify-scheme"
              name="scheme"
              required
              maxLength={200}
              defaultValue="Climate Bonds Standard v4"
            />
            <button type="submit">Certify</button>
          </form>
        ) : null}
        {can('offerings.subscribe') ? (
          <form
            id="subscribe"
            class="filters"
            onSubmit={async (e) => {
              e.preventDefault();
              const quantity = Number(new FormData(e.currentTarget).get('quantity'));
              await done(
                await withToken(`/offerings/${id}/subscriptions`, 'POST', (t) => api.subscribe(t, id, { quantity })),
                `Subscribed ${quantity} units of ${id}.`,
              );
            }}
          >
            <label for="subscribe-quantity">Units</label>
            <input id="subscribe-quantity" name="quantity" type="number" min={1} required />
            <button type="submit">Subscribe</button>
          </form>
        ) : null}
        {can('offerings.allocate') ? (
          <button
            type="button"
            id="allocate"
            onClick={async () =>
              done(
                await withToken(`/offerings/${id}/allocation`, 'POST', (t) => api.allocate(t, id)),
                `Allocated ${id}: its tokens are minted.`,
              )
            }
          >
            Close and allocate
          </button>
        ) : null}
      </div>
      <Refusal error={error} />
      <Notice text={notice} />
      <h3>Holdings</h3>
      {holdings && holdings.length > 0 ? (
        <table id="holdings">
          <thead>
            <tr>
              <th scope="col">Wallet</th>
              <th scope="col">Balance (token base units)</th>
            </tr>
          </thead>
          <tbody>
            {holdings.map((h) => (
              <tr key={h.wallet} data-holding={h.wallet}>
                <th scope="row">{h.wallet}</th>
                <td>{h.balance}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted" id="no-holdings">
          No holder of record yet (tokens are minted at allocation).
        </p>
      )}
    </Section>
  );
}

export function Offerings() {
  const s = useSession();
  const [items, setItems] = useState<Offering[]>();
  const [open, setOpen] = useState<string>();
  const [error, setError] = useState<Err>();
  const load = async () => {
    const r = await api.offerings();
    if (r.ok) {
      setItems(r.value.items);
      setError(undefined);
    } else setError(r.error);
  };
  useEffect(() => {
    void load();
  }, []);
  const chosen = items?.find((o) => o.id === open);
  const issuer = allowed(s, 'offerings.create');
  return (
    <>
      <h1>Offerings</h1>
      <Refusal error={error} />
      {issuer ? (
        <CreateOffering
          onCreated={(o) => {
            setOpen(o.id);
            void load();
          }}
        />
      ) : null}
      <Section title="Offerings" id="offerings">
        <table id="offerings-list">
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col">Certified</th>
              <th scope="col">Subscribed</th>
              <th scope="col">Closes</th>
              <th scope="col">
                <span class="sr">Open</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(items ?? []).map((o) => (
              <tr key={o.id} data-offering={o.id}>
                <th scope="row">{o.id}</th>
                <td>{String(o.terms.name ?? '')}</td>
                <td>{String(o.terms.kind ?? '')}</td>
                <td>{o.status}</td>
                <td>{o.certified ? 'yes' : 'no'}</td>
                <td>
                  {o.subscribed} / {o.subscribed + o.remaining}
                </td>
                <td>{new Date(String(o.terms.closesAt)).toLocaleString()}</td>
                <td>
                  <button type="button" data-action="open" onClick={() => setOpen(o.id)}>
                    Open
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {items && items.length === 0 ? <p class="muted">No offering yet.</p> : null}
      </Section>
      {chosen ? <OfferingActions offering={chosen} onChange={load} /> : null}
    </>
  );
}
