/** Services and datasets: what the API lists, as tables (services update with their replica jobs). */
import { ApiError, call } from '../api.js';
import { useLoad } from '../hooks.js';
import { ago, bytes } from '../format.js';

export function ServicesView() {
  const s = useLoad(() => call('listServices'), [], (e) => e.type === 'job' || e.type === 'fleet');
  const items = s.data?.items ?? [];
  return (
    <>
      <h1>Services</h1>
      {s.error ? <p class="err">{s.error instanceof ApiError && s.error.code === 'NOT_FOUND' ? 'This server runs no services.' : s.error.message}</p> : null}
      {s.data && items.length === 0 ? <p class="muted">No services (gantry serve apply FILE).</p> : null}
      {items.length > 0 ? (
        <table data-testid="service-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Team</th>
              <th>State</th>
              <th class="num">Replicas (ready / desired / min–max)</th>
              <th class="num">In flight</th>
              <th class="num">Requests</th>
              <th class="num">5xx</th>
              <th class="num">p99 latency</th>
              <th>Last scaling</th>
              <th>URL</th>
            </tr>
          </thead>
          <tbody>
            {items.map((v) => (
              <tr>
                <td>{v.name}</td>
                <td>{v.team}</td>
                <td>
                  <span class={`pill s-${v.state}`}>{v.state}</span>
                </td>
                <td class="num">
                  {v.replicas.ready} / {v.replicas.desired} / {v.replicas.min}–{v.replicas.max}
                </td>
                <td class="num">{v.traffic.inFlight}</td>
                <td class="num">{v.traffic.requests}</td>
                <td class="num">{v.traffic.errors5xx}</td>
                <td class="num">{v.traffic.latencyMs.p99 === null ? '–' : `${Math.round(v.traffic.latencyMs.p99)} ms`}</td>
                <td class="muted" title={v.lastDecision?.reason ?? ''}>
                  {v.lastDecision ? `${v.lastDecision.current}→${v.lastDecision.desired} ${ago(v.lastDecision.at)}` : '–'}
                </td>
                <td>
                  <code>{v.url}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}

export function DatasetsView() {
  const d = useLoad(() => call('listDatasets'), []);
  const items = d.data?.items ?? [];
  return (
    <>
      <h1>Datasets</h1>
      {d.error ? <p class="err">{d.error instanceof ApiError && d.error.code === 'NOT_FOUND' ? 'This server has no dataset cache.' : d.error.message}</p> : null}
      {d.data && items.length === 0 ? <p class="muted">No datasets (gantry datasets add NAME SOURCE).</p> : null}
      {items.length > 0 ? (
        <table data-testid="dataset-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Latest</th>
              <th class="num">Size</th>
              <th>Source</th>
              <th>Versions (cached here)</th>
              <th>Added</th>
            </tr>
          </thead>
          <tbody>
            {items.map((x) => (
              <tr>
                <td>{x.name}</td>
                <td>{x.latest ? x.latest.ref : '–'}</td>
                <td class="num">{bytes(x.latest?.totalBytes)}</td>
                <td class="muted">{x.latest ? JSON.stringify(x.latest.source).slice(0, 60) : ''}</td>
                <td>
                  {x.versions.map((v) => (
                    <span class="pill" style="margin-right:.3rem" title={v.removed ? 'removed' : (v.cached ?? 'not cached')}>
                      v{v.version}
                      {v.removed ? ' ✕' : v.cached ? ` · ${v.cached}` : ''}
                    </span>
                  ))}
                </td>
                <td>{ago(x.latest?.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}
