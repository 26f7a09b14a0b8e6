/**
 * The dashboard's entry: the token (from a #token= link, the login form or localStorage), the
 * change stream, the navigation and the views. Everything it shows comes from the API with the
 * user's token, so a member sees what the API lets them see and nothing else.
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { AnswerOf } from '../../src/client/contract-types.js';
import { ApiError, call, getToken, onUnauthenticated, setToken } from './api.js';
import { onLiveStatus, startLive, stopLive, type LiveStatus } from './live.js';
import { useHashRoute } from './hooks.js';
import { FleetView } from './views/fleet.js';
import { JobsView } from './views/jobs.js';
import { JobView } from './views/job.js';
import { QueuesView } from './views/queues.js';
import { ServicesView, DatasetsView } from './views/catalogue.js';
import { CostView } from './views/cost.js';

type Me = AnswerOf<'whoami'>;

const VIEWS = [
  ['fleet', 'Fleet'],
  ['jobs', 'Jobs'],
  ['queues', 'Queues'],
  ['services', 'Services'],
  ['datasets', 'Datasets'],
  ['cost', 'Cost'],
] as const;

/** A token in the URL fragment (never sent to a server) is kept, and removed from the address bar. */
function takeTokenFromLink(): void {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m?.[1]) return;
  setToken(decodeURIComponent(m[1]));
  history.replaceState(null, '', `${location.pathname}#/fleet`);
}

function Login(props: { onToken: (t: string) => void; error: string | null }) {
  const [value, setValue] = useState('');
  return (
    <div class="card login">
      <h1>Gantry</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) props.onToken(value.trim());
        }}
      >
        <label for="token">Token</label>
        <input id="token" name="token" type="password" autocomplete="off" placeholder="gty_..." value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        <button class="btn primary" type="submit">
          Sign in
        </button>
      </form>
      {props.error ? <p class="err" role="alert">{props.error}</p> : null}
      <p class="muted">
        <code>gantry up</code> prints a link with the admin token (<code>#token=...</code>); members get theirs from <code>gantry users add</code>. The token stays in this browser.
      </p>
    </div>
  );
}

function Shell(props: { me: Me; onLogout: () => void }) {
  const route = useHashRoute();
  const [live, setLive] = useState<LiveStatus>('connecting');
  useEffect(() => onLiveStatus(setLive), []);
  const view = route[0] ?? 'fleet';
  let body;
  if (view === 'jobs' && route[1]) body = <JobView id={route[1]} me={props.me} />;
  else if (view === 'jobs') body = <JobsView me={props.me} />;
  else if (view === 'queues') body = <QueuesView me={props.me} />;
  else if (view === 'services') body = <ServicesView />;
  else if (view === 'datasets') body = <DatasetsView />;
  else if (view === 'cost') body = <CostView me={props.me} />;
  else body = <FleetView me={props.me} />;
  return (
    <>
      <header class="top">
        <span class="brand">Gantry</span>
        <nav>
          {VIEWS.map(([id, label]) => (
            <a href={`#/${id}`} class={view === id ? 'on' : ''} data-view={id}>
              {label}
            </a>
          ))}
        </nav>
        <span class={`live ${live === 'live' ? 'live-on' : 'live-off'}`} data-live={live} title="updates pushed by the server">
          {live === 'live' ? '● live' : live === 'connecting' ? '○ connecting' : '○ offline'}
        </span>
        <span class="who" data-testid="who">
          {props.me.name} · {props.me.team}
          {props.me.admin ? ' · admin' : ''}
        </span>
        <button onClick={props.onLogout}>Sign out</button>
      </header>
      <main>{body}</main>
    </>
  );
}

function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(getToken() !== null);
  const signIn = async (): Promise<void> => {
    setChecking(true);
    try {
      setMe(await call('whoami'));
      setError(null);
      startLive();
    } catch (e) {
      setToken(null);
      setMe(null);
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
    } finally {
      setChecking(false);
    }
  };
  useEffect(() => {
    if (getToken()) void signIn();
    const out = () => {
      stopLive();
      setToken(null);
      setMe(null);
      setError('the server refused the token (expired or revoked?); sign in again');
    };
    onUnauthenticated.add(out);
    return () => onUnauthenticated.delete(out);
  }, []);
  if (checking && !me) return <p class="muted" style="padding:2rem">Connecting…</p>;
  if (!me)
    return (
      <Login
        error={error}
        onToken={(t) => {
          setToken(t);
          void signIn();
        }}
      />
    );
  return (
    <Shell
      me={me}
      onLogout={() => {
        stopLive();
        setToken(null);
        setMe(null);
        setError(null);
      }}
    />
  );
}

takeTokenFromLink();
render(<App />, document.getElementById('app')!);
