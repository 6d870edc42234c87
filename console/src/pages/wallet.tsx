import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { describeCredential, type HolderKey, signJwt } from '../crypto';
import { receiveWithTxCode } from '../oid4vci';
import { answerRequest, type PresentationRequest, readRequest } from '../oid4vp';
import { addCredential, useSession } from '../session';
import { Notice, Refusal, Section, short } from '../ui';

const PRE_AUTH = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
const OFFER_PROOF_TYP = 'openid4vci-proof+jwt';
type Err = { code: string; message: string } | undefined;
const malformed = (why: string) => ({
  code: 'ERR_WALLET_OFFER_MALFORMED',
  message: `the credential offer is malformed: ${why}`,
});

/** A same-origin URL as a path (the console's CSP lets it talk to its own origin only). */
function local(url: string): string | undefined {
  try {
    const u = new URL(url, location.href);
    return u.origin === location.origin ? u.pathname + u.search : undefined;
  } catch {
    return undefined;
  }
}

interface ReadOffer {
  issuer: string;
  code: string;
  offer: { credential_issuer: string; credential_configuration_ids: unknown[] };
  /** The transaction code the offer asks for (OpenID4VCI §4.1.1 tx_code), typed by the user. */
  txCode?: { length?: number; description?: string };
}

/** An OpenID4VCI credential offer, by value or by reference, as a link, a QR's text or JSON. */
async function readOffer(text: string): Promise<ReadOffer | { error: Err }> {
  let offer: Record<string, unknown> | undefined;
  const t = text.trim();
  try {
    if (t.startsWith('{')) offer = JSON.parse(t);
    else {
      const query = new URLSearchParams(t.slice(t.indexOf('?') + 1));
      const byValue = query.get('credential_offer');
      const byRef = query.get('credential_offer_uri');
      if (byValue) offer = JSON.parse(byValue);
      else if (byRef) {
        const path = local(byRef);
        if (!path) return { error: malformed('the offer is at another origin than this console') };
        const r = await api.fetchOffer(path);
        if (!r.ok) return { error: r.error };
        offer = r.value;
      } else return { error: malformed('no credential_offer or credential_offer_uri') };
    }
  } catch {
    return { error: malformed('it does not parse') };
  }
  const grant = (offer?.grants as Record<string, Record<string, unknown>> | undefined)?.[PRE_AUTH];
  const code = grant?.['pre-authorized_code'];
  if (typeof offer?.credential_issuer !== 'string' || typeof code !== 'string')
    return { error: malformed('no issuer or no pre-authorized code') };
  if (!Array.isArray(offer.credential_configuration_ids))
    return { error: malformed('no credential_configuration_ids') };
  const tx = grant?.tx_code as { length?: unknown; description?: unknown } | undefined;
  return {
    issuer: offer.credential_issuer,
    code,
    offer: {
      credential_issuer: offer.credential_issuer,
      credential_configuration_ids: offer.credential_configuration_ids,
    },
    ...(tx
      ? {
          txCode: {
            ...(typeof tx.length === 'number' ? { length: tx.length } : {}),
            ...(typeof tx.description === 'string' ? { description: tx.description.slice(0, 200) } : {}),
          },
        }
      : {}),
  };
}

/**
 * Answer a presentation request pasted in (an openid4vp:// link or a QR code's text): the request is checked first
 * (src/oid4vp.ts), then the page shows who asks, where the answer goes, for what and what would be disclosed, and
 * answers only when the user says so.
 */
function Present({ holder }: { holder: HolderKey }) {
  const [error, setError] = useState<Err>();
  const [notice, setNotice] = useState<string>();
  const [req, setReq] = useState<PresentationRequest>();
  return (
    <Section title="Answer a presentation request" id="present">
      {!req ? (
        <form
          id="present-request"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(undefined);
            setNotice(undefined);
            const text = String(new FormData(e.currentTarget).get('request') ?? '');
            const r = await readRequest(text, holder);
            if (!r.ok) return setError(r.error);
            e.currentTarget?.reset();
            setReq(r.value);
          }}
        >
          <label for="request-text">Request link or QR text (openid4vp://…)</label>
          <textarea id="request-text" name="request" rows={3} required />
          <button type="submit">Read the request</button>
        </form>
      ) : (
        <div id="consent" data-verifier={req.verifier}>
          <p>
            <strong>
              <code id="consent-verifier">{req.verifier}</code>
            </strong>{' '}
            asks (its signature on the request checked), and the answer goes to <code>{req.responseUri}</code>.
          </p>
          <p>
            For <strong id="consent-scope">{`${req.action ?? '?'} ${req.resource ?? '?'}`}</strong>, it asks for:
          </p>
          <ul id="consent-asks">
            {req.asks.map((a, i) => (
              <li key={i} data-answered={a.credential ? 'yes' : 'no'}>
                a {a.types.join(' or ')}, disclosing {a.claims.join(', ') || 'the whole credential'}:{' '}
                {a.credential
                  ? `your ${describeCredential(a.credential).types.join(', ')} (${JSON.stringify(describeCredential(a.credential).claims).slice(0, 80)})`
                  : 'you hold none that meets it'}
              </li>
            ))}
          </ul>
          {req.transactionData.length > 0 ? (
            <p>
              It binds the answer to: <code>{JSON.stringify(req.transactionData)}</code>
            </p>
          ) : null}
          <button
            type="button"
            id="consent-answer"
            disabled={req.asks.some((a) => !a.credential)}
            onClick={async () => {
              const r = await answerRequest(holder, req);
              setReq(undefined);
              if (!r.ok) return setError(r.error);
              setNotice(
                r.value.accessGranted
                  ? `Answered: access granted to ${r.value.holder}.`
                  : `Answered as ${r.value.holder}: the device that showed the request receives the session.`,
              );
            }}
          >
            Answer
          </button>{' '}
          <button
            type="button"
            id="consent-decline"
            onClick={() => {
              setReq(undefined);
              setNotice('Declined: nothing was sent.');
            }}
          >
            Decline
          </button>
        </div>
      )}
      <Refusal error={error} />
      <Notice text={notice} />
    </Section>
  );
}

export function Wallet() {
  const s = useSession();
  const holder = s.holder;
  const [error, setError] = useState<Err>();
  const [notice, setNotice] = useState<string>();
  const [status, setStatus] = useState<Record<string, string>>({});
  const [txOffer, setTxOffer] = useState<ReadOffer>();

  useEffect(() => {
    if (!holder) return;
    void (async () => {
      const out: Record<string, string> = {};
      for (const jwt of holder.credentials) {
        const r = await api.verifyJwt(jwt);
        out[jwt] = r.ok ? 'valid' : r.error.code;
      }
      setStatus(out);
    })();
  }, [holder?.credentials.length]);

  if (!holder) return null;
  return (
    <>
      <h1>Wallet</h1>
      <p>
        Holder <code data-holder-did>{holder.did}</code>. The key and the credentials are kept in this browser sealed
        under your passphrase (AES-GCM, PBKDF2).
      </p>
      <Section title="Receive a credential offer" id="receive">
        <form
          id="receive-offer"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(undefined);
            setNotice(undefined);
            const text = String(new FormData(e.currentTarget).get('offer') ?? '');
            const o = await readOffer(text);
            if ('error' in o) return setError(o.error);
            if (o.txCode) {
              // asked for below; the offer stays here until the right code is typed (a wrong one does not spend it)
              e.currentTarget?.reset();
              return setTxOffer(o);
            }
            const redeem = local(`${o.issuer}/offers/redeem`);
            if (!redeem) return setError(malformed('the issuer is at another origin than this console'));
            const proof = signJwt(holder, { aud: o.issuer, nonce: o.code }, OFFER_PROOF_TYP);
            const r = await api.redeem(o.code, proof);
            if (!r.ok) return setError(r.error);
            await addCredential(r.value.credential);
            setNotice(`Received ${r.value.type}.`);
          }}
        >
          <label for="offer-text">Offer link, QR text or JSON</label>
          <textarea id="offer-text" name="offer" rows={3} required />
          <button type="submit">Receive</button>
        </form>
        {txOffer ? (
          <form
            id="tx-code-form"
            onSubmit={async (e) => {
              e.preventDefault();
              setError(undefined);
              setNotice(undefined);
              const code = String(new FormData(e.currentTarget).get('txCode') ?? '').trim();
              const r = await receiveWithTxCode(holder, txOffer.offer, txOffer.code, code);
              if (!r.ok) return setError(r.error);
              for (const jwt of r.value) await addCredential(jwt);
              setTxOffer(undefined);
              setNotice(`Received ${r.value.map((j) => describeCredential(j).types.join(', ')).join('; ')}.`);
            }}
          >
            <p>
              This offer of <code>{txOffer.issuer}</code> needs a transaction code
              {txOffer.txCode?.description ? ` (${txOffer.txCode.description})` : ''}.
            </p>
            <label for="tx-code">
              Transaction code{txOffer.txCode?.length ? ` (${txOffer.txCode.length} digits)` : ''}
            </label>
            <input
              id="tx-code"
              name="txCode"
              required
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={txOffer.txCode?.length ?? 16}
            />
            <button type="submit">Receive with the code</button>{' '}
            <button type="button" class="link" onClick={() => setTxOffer(undefined)}>
              Cancel
            </button>
          </form>
        ) : null}
        <Refusal error={error} />
        <Notice text={notice} />
      </Section>
      <Present holder={holder} />
      <Section title="Credentials" id="held">
        <table id="wallet-credentials">
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Claims</th>
              <th scope="col">Issuer</th>
              <th scope="col">Expires</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {holder.credentials.map((jwt) => {
              const d = describeCredential(jwt);
              return (
                <tr key={jwt} data-type={d.types.join(' ')}>
                  <td>{d.types.join(', ')}</td>
                  <td class="details">{JSON.stringify(d.claims).slice(0, 120)}</td>
                  <td title={d.issuer}>{short(d.issuer ?? '', 24)}</td>
                  <td>{d.expiresAt ? new Date(d.expiresAt * 1000).toLocaleDateString() : '–'}</td>
                  <td data-status>{status[jwt] ?? '…'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </Section>
    </>
  );
}
