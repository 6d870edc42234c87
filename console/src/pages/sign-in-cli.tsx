import { useEffect, useState } from 'preact/hooks';
import { api, type CrossDeviceRequest } from '../api';
import { adoptSession } from '../session';
import { Refusal, Section } from '../ui';

type Err = { code: string; message: string } | undefined;
/** What a console session opens: every issuer route, each then decided by its own policy (the issuer's sign-in scope). */
const SIGN_IN_SCOPE = { resource: '/issuer/**', action: '*' };
const POLL_MS = 1_000;

/**
 * Sign in with a wallet on another device (the CLI wallet, or any OpenID4VP 1.0 wallet): the verifier signs a
 * cross-device request for the issuer's sign-in scope, shown here as a QR code, a link and the CLI command; the
 * wallet checks it, asks its user and answers the verifier directly; this page polls the request's result with the
 * transaction secret only it holds, and takes the access token, or shows the verifier's refusal with its code.
 */
export function CrossDeviceSignIn() {
  const [req, setReq] = useState<CrossDeviceRequest>();
  const [error, setError] = useState<Err>();
  const [expired, setExpired] = useState(false);

  useEffect(() => {
    if (!req) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      if (stopped) return;
      if (Date.now() / 1000 > req.expires_at) {
        setReq(undefined);
        setExpired(true);
        return;
      }
      const r = await api.crossDeviceResult(req.id, req.transaction_secret);
      if (stopped) return;
      if (!r.ok) {
        // the verifier refused the wallet's answer: its code, as the API gave it
        setReq(undefined);
        setError(r.error);
        return;
      }
      if ('access_token' in r.value) {
        setReq(undefined);
        const a = await adoptSession(r.value.access_token, r.value.expires_in);
        if (!a.ok) setError(a);
        return;
      }
      timer = setTimeout(() => void tick(), POLL_MS);
    };
    timer = setTimeout(() => void tick(), POLL_MS);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [req]);

  const start = async () => {
    setError(undefined);
    setExpired(false);
    const r = await api.crossDeviceRequest(SIGN_IN_SCOPE.resource, SIGN_IN_SCOPE.action);
    if (!r.ok) return setError(r.error);
    setReq(r.value);
  };

  const command = req ? `npm run -s wallet -- present --request '${req.authorization_request}'` : '';
  return (
    <Section title="Sign in with a wallet on another device" id="cross-device">
      <p>
        The CLI wallet (or any OpenID4VP wallet holding a role credential) answers a request shown here; this page signs
        in when the verifier has accepted its answer. The wallet shows who asks and for what before it answers.
      </p>
      {req ? (
        <div class="offer" id="cross-device-request" data-request-id={req.id}>
          <img
            src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(req.qr_svg)}`}
            alt="QR code of the sign-in request"
            width={220}
            height={220}
          />
          <div>
            <label for="cross-device-link">Sign-in request (link)</label>
            <textarea id="cross-device-link" readOnly rows={3} value={req.authorization_request} />
            <label for="cross-device-command">Or run in a terminal</label>
            <textarea id="cross-device-command" readOnly rows={3} value={command} />
            <p role="status" class="muted" id="cross-device-waiting">
              Waiting for the wallet's answer until {new Date(req.expires_at * 1000).toLocaleTimeString()}…
            </p>
            <button
              type="button"
              onClick={() => {
                void navigator.clipboard?.writeText(command);
              }}
            >
              Copy the command
            </button>{' '}
            <button type="button" class="link" onClick={() => setReq(undefined)}>
              Cancel
            </button>
          </div>
        </div>
      ) : (
        <button type="button" id="cross-device-start" onClick={() => void start()}>
          {expired || error ? 'Show a new sign-in request' : 'Show a sign-in request (QR code and link)'}
        </button>
      )}
      {expired ? (
        <p class="error" role="alert" data-code="ERR_AUTH_EXPIRED">
          The request expired unanswered; show a new one.
        </p>
      ) : null}
      <Refusal error={error} />
    </Section>
  );
}
