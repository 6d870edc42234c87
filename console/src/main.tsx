import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Audit } from './pages/audit';
import { Credentials } from './pages/credentials';
import { Devices } from './pages/devices';
import { Energy } from './pages/energy';
import { Exchange } from './pages/exchange';
import { Offerings } from './pages/offerings';
import { Overview } from './pages/overview';
import { SignIn } from './pages/sign-in';
import { Wallet } from './pages/wallet';
import { lock, type State, signOut, startSessionKeeper, useSession } from './session';
import './style.css';

interface Page {
  path: string;
  title: string;
  render: () => preact.JSX.Element;
  /** Shown when the session may use it (deny by default: a capability the policy did not grant hides the page). */
  visible: (s: State['session'], wallet: State['holder'], access: State['walletAccess']) => boolean;
}

const PAGES: Page[] = [
  { path: 'overview', title: 'Overview', render: () => <Overview />, visible: (s) => s !== undefined },
  {
    path: 'credentials',
    title: 'Credentials',
    render: () => <Credentials />,
    visible: (s) => s?.allowed['credentials.read'] === true,
  },
  {
    path: 'devices',
    title: 'Devices',
    render: () => <Devices />,
    visible: (s) => s?.allowed['devices.read'] === true || s?.allowed['devices.register'] === true,
  },
  { path: 'audit', title: 'Audit trail', render: () => <Audit />, visible: (s) => s?.allowed['audit.read'] === true },
  {
    path: 'energy',
    title: 'Energy',
    render: () => <Energy />,
    // the market's periods are public; a meter's bills open to the credentials the policy grants them to
    visible: (s, _w, a) => s !== undefined || (a?.meters.length ?? 0) > 0,
  },
  {
    path: 'offerings',
    title: 'Offerings',
    render: () => <Offerings />,
    // the list and the holdings are public; creating, certifying, subscribing and allocating are the policy's call
    visible: (s, _w, a) =>
      s !== undefined || Object.entries(a?.allowed ?? {}).some(([k, v]) => k.startsWith('offerings.') && v),
  },
  {
    path: 'exchange',
    title: 'Data exchange',
    render: () => <Exchange />,
    // every route of the exchange is behind the data.exchange policy
    visible: (_s, _w, a) => a?.allowed.exchange === true,
  },
  { path: 'wallet', title: 'Wallet', render: () => <Wallet />, visible: (_s, w) => w !== undefined },
];

function useRoute(): string {
  const read = () => location.hash.replace(/^#\/?/, '').split('?')[0] || '';
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function App() {
  const s = useSession();
  const route = useRoute();
  const visible = PAGES.filter((p) => p.visible(s.session, s.holder, s.walletAccess));
  // The page asked for stays in the address bar: after a sign-in (or a renewed one) the user is back on it.
  const page = visible.find((p) => p.path === route) ?? (route === '' && s.session ? visible[0] : undefined);
  useEffect(() => {
    document.title = `${page?.title ?? 'Sign in'} · Tessera console`;
  }, [page?.title]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span class="brand">Tessera console</span>
        <nav aria-label="Pages">
          {visible.map((p) => (
            <a key={p.path} href={`#/${p.path}`} aria-current={page?.path === p.path ? 'page' : undefined}>
              {p.title}
            </a>
          ))}
          <a href="/docs/">API docs</a>
        </nav>
        <div class="who">
          {s.session ? (
            <>
              <span id="me" title={s.session.did}>
                {s.session.roles.join(', ')} · until {new Date(s.session.expiresAt).toLocaleTimeString()}
              </span>{' '}
              <button type="button" id="sign-out" onClick={() => void signOut()}>
                Sign out
              </button>
            </>
          ) : null}
          {s.holder ? (
            <button type="button" id="lock" onClick={() => lock()}>
              Lock wallet
            </button>
          ) : null}
        </div>
      </header>
      <main id="main" data-page={page?.path ?? 'sign-in'}>
        {s.busy ? (
          <p role="status" class="muted">
            {s.busy}
          </p>
        ) : null}
        {page ? page.render() : <SignIn />}
      </main>
    </>
  );
}

startSessionKeeper();
render(<App />, document.getElementById('app')!);
