import { useState } from 'preact/hooks';
import { api } from '../api';
import { checkHolderFile, newHolder } from '../crypto';
import { forgetWallet, keepWallet, roleCredentials, signIn, unlock, useSession } from '../session';
import { Refusal, Section } from '../ui';
import { CrossDeviceSignIn } from './sign-in-cli';

type Err = { code: string; message: string } | undefined;
const MIN_PASSPHRASE = 10;

function Passphrase({ id, label, confirm }: { id: string; label: string; confirm?: boolean }) {
  return (
    <>
      <div class="field">
        <label for={id}>{label}</label>
        <input
          id={id}
          name="passphrase"
          type="password"
          required
          minLength={MIN_PASSPHRASE}
          autoComplete="new-password"
        />
      </div>
      {confirm ? (
        <div class="field">
          <label for={`${id}-again`}>The passphrase again</label>
          <input id={`${id}-again`} name="again" type="password" required autoComplete="new-password" />
        </div>
      ) : null}
    </>
  );
}

function passphraseOf(form: HTMLFormElement, confirm: boolean): string | Err {
  const d = new FormData(form);
  const p = String(d.get('passphrase') ?? '');
  if (p.length < MIN_PASSPHRASE)
    return { code: 'ERR_VALIDATION', message: `the passphrase needs at least ${MIN_PASSPHRASE} characters` };
  if (confirm && p !== String(d.get('again') ?? ''))
    return { code: 'ERR_VALIDATION', message: 'the two passphrases differ' };
  return p;
}

/** No wallet in this browser yet: create one (keys made here) or import a wallet file. */
function NewWallet() {
  const [error, setError] = useState<Err>();
  return (
    <>
      <Section title="Import a wallet file" id="import">
        <p>
          A Tessera wallet file holds a DID, its key and credentials: the root admin's is{' '}
          <code>.tessera/root-admin-wallet.json</code>, written by <code>npm start</code> on first start.
        </p>
        <form
          id="import-wallet"
          onSubmit={async (e) => {
            e.preventDefault();
            const form = e.currentTarget;
            const p = passphraseOf(form, true);
            if (typeof p !== 'string') return setError(p);
            const file = (form.elements.namedItem('file') as HTMLInputElement).files?.[0];
            if (!file) return setError({ code: 'ERR_VALIDATION', message: 'choose a wallet file' });
            let parsed: unknown;
            try {
              parsed = JSON.parse(await file.text());
            } catch {
              return setError({ code: 'ERR_VALIDATION', message: 'the file is not JSON' });
            }
            const holder = checkHolderFile(parsed);
            if (typeof holder === 'string') return setError({ code: 'ERR_VALIDATION', message: holder });
            await keepWallet(holder, p);
            form.reset();
            if (roleCredentials(holder).length > 0) {
              const r = await signIn();
              if (!r.ok) setError(r);
            }
          }}
        >
          <div class="field">
            <label for="wallet-file">Wallet file</label>
            <input id="wallet-file" name="file" type="file" accept="application/json,.json" required />
          </div>
          <Passphrase id="import-passphrase" label="A passphrase to seal it in this browser" confirm />
          <button type="submit">Import and sign in</button>
        </form>
      </Section>
      <Section title="Or create a new wallet" id="create">
        <p>A new key is generated in this browser; give its DID to an admin to be issued a credential.</p>
        <form
          id="create-wallet"
          onSubmit={async (e) => {
            e.preventDefault();
            const form = e.currentTarget;
            const p = passphraseOf(form, true);
            if (typeof p !== 'string') return setError(p);
            const info = await api.info();
            if (!info.ok) return setError(info.error);
            await keepWallet(newHolder(info.value.chainId), p);
            location.hash = '#/wallet';
          }}
        >
          <Passphrase id="create-passphrase" label="Passphrase" confirm />
          <button type="submit">Create wallet</button>
        </form>
      </Section>
      <Refusal error={error} />
    </>
  );
}

export function SignIn() {
  const s = useSession();
  const [error, setError] = useState<Err>();
  return (
    <>
      <h1>Sign in</h1>
      {s.ended ? (
        <p class="error" role="alert" id="session-ended" data-code={s.ended.code}>
          <strong>Your session ended</strong> ({s.ended.code}: {s.ended.message}). Sign in again to continue where you
          were.
        </p>
      ) : null}
      {!s.sealed ? <NewWallet /> : null}
      {s.sealed && !s.holder ? (
        <Section title="Unlock your wallet" id="unlock">
          <p>
            Wallet of <code>{s.sealed.did}</code> in this browser.
          </p>
          <form
            id="unlock-wallet"
            onSubmit={async (e) => {
              e.preventDefault();
              const p = String(new FormData(e.currentTarget).get('passphrase') ?? '');
              if (!(await unlock(p))) return setError({ code: 'ERR_AUTH_INVALID', message: 'wrong passphrase' });
              setError(undefined);
              const r = await signIn();
              if (!r.ok && r.code !== 'ERR_POLICY_DENIED') setError(r);
              if (!r.ok && r.code === 'ERR_POLICY_DENIED') location.hash = '#/wallet';
            }}
          >
            <div class="field">
              <label for="unlock-passphrase">Passphrase</label>
              <input
                id="unlock-passphrase"
                name="passphrase"
                type="password"
                required
                autoComplete="current-password"
              />
            </div>
            <button type="submit">Unlock and sign in</button>
          </form>
          <p>
            <button
              type="button"
              class="link"
              onClick={() => {
                if (confirm('Forget the wallet sealed in this browser? Keys and credentials in it are lost.'))
                  forgetWallet();
              }}
            >
              Forget this wallet
            </button>
          </p>
        </Section>
      ) : null}
      {s.holder && !s.session ? (
        <Section title="Sign in with a role credential" id="present">
          <p>Signed-in pages need a role credential (admin, operator, manufacturer or device owner) in your wallet.</p>
          <button
            type="button"
            id="sign-in"
            disabled={roleCredentials(s.holder).length === 0}
            onClick={async () => {
              const r = await signIn();
              setError(r.ok ? undefined : r);
            }}
          >
            Present my credentials
          </button>
        </Section>
      ) : null}
      <Refusal error={error} />
      {!s.session ? <CrossDeviceSignIn /> : null}
    </>
  );
}
