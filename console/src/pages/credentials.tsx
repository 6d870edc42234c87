import { useEffect, useState } from 'preact/hooks';
import { api, type CredentialPage, type CredentialTypeInfo, type JsonSchema, type OfferReply } from '../api';
import { useSession } from '../session';
import { ConfirmButton, Notice, Refusal, Section, settle, short, token } from '../ui';
import { claimsFrom, SchemaFields } from './schema-form';

type Err = { code: string; message: string } | undefined;

function IssueForm({ onIssued }: { onIssued: (id: string) => void }) {
  const [types, setTypes] = useState<Record<string, CredentialTypeInfo>>({});
  const [schemas, setSchemas] = useState<Record<string, JsonSchema>>({});
  const [type, setType] = useState('');
  const [error, setError] = useState<Err>();
  const [notice, setNotice] = useState<string>();
  useEffect(() => {
    void (async () => {
      const [t, spec] = await Promise.all([api.credentialTypes(), api.spec()]);
      if (t.ok) setTypes(t.value);
      if (spec.ok) setSchemas(spec.value.components?.schemas ?? {});
      if (!t.ok) setError(t.error);
    })();
  }, []);
  const schema = type ? schemas[`${type}Claims`] : undefined;
  return (
    <form
      id="issue"
      onSubmit={async (e) => {
        e.preventDefault();
        const form = e.currentTarget;
        const data = new FormData(form);
        const validity = String(data.get('validity') ?? '').trim();
        setError(undefined);
        const r = settle(
          await api.issue(token(), {
            type,
            subject: String(data.get('subject') ?? '').trim(),
            claims: schema ? claimsFrom(schema, form) : {},
            ...(validity ? { validitySeconds: Number(validity) } : {}),
          }),
        );
        if (!r.ok) return setError(r.error);
        setNotice(`Issued ${r.value.type} ${r.value.id} to ${r.value.subject}.`);
        onIssued(r.value.id);
      }}
    >
      <div class="field">
        <label for="issue-type">Credential type</label>
        <select id="issue-type" name="type" required value={type} onChange={(e) => setType(e.currentTarget.value)}>
          <option value="">Choose a type</option>
          {Object.entries(types).map(([t, info]) => (
            <option key={t} value={t}>
              {t} ({info.kind})
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="issue-subject">Subject DID</label>
        <input id="issue-subject" name="subject" required placeholder="did:ethr:0x…:0x…" />
      </div>
      {schema ? <SchemaFields schema={schema} /> : null}
      <div class="field">
        <label for="issue-validity">Validity in seconds (optional)</label>
        <input
          id="issue-validity"
          name="validity"
          type="number"
          min="1"
          placeholder={type && types[type] ? String(types[type]!.defaultValiditySeconds) : ''}
        />
      </div>
      <button type="submit" disabled={!type}>
        Issue
      </button>
      <Refusal error={error} />
      <Notice text={notice} />
    </form>
  );
}

function Offer({ offer }: { offer: OfferReply }) {
  return (
    <div class="offer" id="offer">
      <img
        src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(offer.qr_svg)}`}
        alt="QR code of the credential offer"
        width={220}
        height={220}
      />
      <div>
        <p>
          Scan with a wallet, or paste into the console's wallet page. Expires{' '}
          {new Date(offer.expiresAt).toLocaleString()}.
          {offer.txCode ? ` Transaction code (send by another channel): ${offer.txCode}` : ''}
        </p>
        <label for="offer-link">Offer link</label>
        <textarea id="offer-link" readOnly rows={3} value={offer.offer_uri_by_reference} />
      </div>
    </div>
  );
}

export function Credentials() {
  const s = useSession();
  const allowed = s.session?.allowed ?? {};
  const [page, setPage] = useState<CredentialPage>();
  const [filter, setFilter] = useState({ type: '', subject: '', status: '' });
  const [error, setError] = useState<Err>();
  const [notice, setNotice] = useState<string>();
  const [offer, setOffer] = useState<OfferReply>();
  const load = async () => {
    const r = settle(await api.listCredentials(token(), filter));
    if (r.ok) {
      setPage(r.value);
      setError(undefined);
    } else setError(r.error);
  };
  useEffect(() => {
    void load();
  }, [filter]);
  const act = async (id: string, action: 'suspend' | 'resume' | 'revoke') => {
    const r = settle(await api.credentialAction(token(), id, action));
    if (!r.ok) return setError(r.error);
    setNotice(`Credential ${id} is ${r.value.credential.status}.`);
    await load();
  };
  return (
    <>
      <h1>Credentials</h1>
      {allowed['credentials.issue'] ? (
        <Section title="Issue a credential" id="issue-section">
          <IssueForm onIssued={() => void load()} />
        </Section>
      ) : null}
      {offer ? (
        <Section title="Credential offer" id="offer-section">
          <Offer offer={offer} />
        </Section>
      ) : null}
      <Section title="Issued credentials" id="list">
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            const d = new FormData(e.currentTarget);
            setFilter({
              type: String(d.get('type') ?? ''),
              subject: String(d.get('subject') ?? '').trim(),
              status: String(d.get('status') ?? ''),
            });
          }}
        >
          <label for="f-type">Type</label>
          <input id="f-type" name="type" placeholder="any" />
          <label for="f-subject">Subject</label>
          <input id="f-subject" name="subject" placeholder="any DID" />
          <label for="f-status">Status</label>
          <select id="f-status" name="status">
            <option value="">any</option>
            <option>active</option>
            <option>suspended</option>
            <option>revoked</option>
          </select>
          <button type="submit">Search</button>
        </form>
        <Refusal error={error} />
        <Notice text={notice} />
        <table id="credentials">
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Subject</th>
              <th scope="col">Status</th>
              <th scope="col">Expires</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(page?.items ?? []).map((c) => (
              <tr key={c.id} data-credential={c.id} data-type={c.type} data-subject={c.subject}>
                <td>{c.type}</td>
                <td title={c.subject}>{short(c.subject, 30)}</td>
                <td data-status>{c.expired ? `${c.status} (expired)` : c.status}</td>
                <td>{new Date(c.expiresAt).toLocaleDateString()}</td>
                <td class="actions">
                  {allowed['credentials.offer'] && c.status === 'active' ? (
                    <button
                      type="button"
                      data-action="offer"
                      onClick={async () => {
                        const r = settle(await api.offer(token(), c.id));
                        if (r.ok) setOffer(r.value);
                        else setError(r.error);
                      }}
                    >
                      Offer
                    </button>
                  ) : null}
                  {allowed['credentials.suspend'] && c.status === 'active' ? (
                    <ConfirmButton
                      name="suspend"
                      label="Suspend"
                      question={`Suspend this ${c.type}?`}
                      onConfirm={() => act(c.id, 'suspend')}
                    />
                  ) : null}
                  {allowed['credentials.resume'] && c.status === 'suspended' ? (
                    <ConfirmButton
                      name="resume"
                      label="Resume"
                      question={`Resume this ${c.type}?`}
                      onConfirm={() => act(c.id, 'resume')}
                    />
                  ) : null}
                  {allowed['credentials.revoke'] && c.status !== 'revoked' ? (
                    <ConfirmButton
                      name="revoke"
                      danger
                      label="Revoke"
                      question={`Revoke this ${c.type}? Revocation is final.`}
                      onConfirm={() => act(c.id, 'revoke')}
                    />
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </>
  );
}
