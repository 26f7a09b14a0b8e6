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
import { SimView } from './views/sim.js';

type Me = AnswerOf<'whoami'>;

const VIEWS = [
  ['fleet', 'Fleet'],
  ['jobs', 'Jobs'],
  ['queues', 'Queues'],
  ['services', 'Services'],
  ['datasets', 'Datasets'],
  ['cost', 'Cost'],
  ['sim', 'Simulator'],
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

function Shell(props: { me: Me | null; onLogout: () => void }) {
  const route = useHashRoute();
  const [live, setLive] = useState<LiveStatus>('connecting');
  useEffect(() => onLiveStatus(setLive), []);
  const view = route[0] ?? 'fleet';
  let body;
  if (view === 'jobs' && route[1]) body = <JobView id={route[1]} />;
  else if (view === 'jobs') body = <JobsView />;
  else if (view === 'queues') body = <QueuesView />;
  else if (view === 'services') body = <ServicesView />;
  else if (view === 'datasets') body = <DatasetsView />;
  else if (view === 'cost') body = <CostView />;
  else if (view === 'sim') body = <SimView />;
  else body = <FleetView />;
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
        {props.me ? (
          <span class="who" data-testid="who">
            {props.me.name} · {props.me.team}
            {props.me.admin ? ' · admin' : ''}
          </span>
        ) : (
          <span class="who">…</span>
        )}
        <button onClick={props.onLogout}>Sign out</button>
      </header>
      <main>{body}</main>
    </>
  );
}

/**
 * With a token, the views start at once (their reads run alongside the whoami that names the
 * user): the first screen does not wait for one more round trip. A refused token, on any
 * call, brings the login back with the server's reason.
 */
function App() {
  const [token, setTokenState] = useState<string | null>(getToken());
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const out = (e: ApiError) => {
      stopLive();
      setToken(null);
      setTokenState(null);
      setMe(null);
      setError(`${e.code}: ${e.message}`);
    };
    onUnauthenticated.add(out);
    return () => onUnauthenticated.delete(out);
  }, []);
  useEffect(() => {
    if (!token) return;
    startLive();
    call('whoami').then(setMe, (e: unknown) => {
      if (!(e instanceof ApiError && e.status === 401)) setError(e instanceof Error ? e.message : String(e));
    });
  }, [token]);
  if (!token)
    return (
      <Login
        error={error}
        onToken={(t) => {
          setToken(t);
          setError(null);
          setTokenState(t);
        }}
      />
    );
  return (
    <>
      {error ? <p class="err" role="alert" style="margin:0;padding:.4rem 1.2rem">{error}</p> : null}
      <Shell
        me={me}
        onLogout={() => {
          stopLive();
          setToken(null);
          setTokenState(null);
          setMe(null);
          setError(null);
        }}
      />
    </>
  );
}

takeTokenFromLink();
render(<App />, document.getElementById('app')!);
