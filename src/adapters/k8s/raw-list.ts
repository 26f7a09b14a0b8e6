/**
 * A list call whose answer is parsed as plain JSON, like the watch events that follow it.
 * client-node's typed list methods convert every object through its ObjectSerializer (each
 * field looked up in the model's attribute map, timestamps made Dates): for the scheduler's
 * start-up lists (all nodes, all pods) that conversion cost several times the parsing itself, and
 * a restarted scheduler binds nothing until its lists are in (docs/benchmarks.md, "Restart under load").
 */
import { request, type Agent } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { ApiError } from './api.js';

/** The apiserver's Status message, or the start of the body. */
function messageOf(body: string): string {
  try {
    const m = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    // not JSON
  }
  return body.slice(0, 200);
}

export async function listRaw<T extends KubernetesObject>(kc: KubeConfig, path: string): Promise<KubernetesListObject<T>> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(cluster.server + path);
  const init = (await kc.applyToFetchOptions({ method: 'GET' })) as { headers?: unknown; agent?: unknown };
  const headers: Record<string, string> = { accept: 'application/json' };
  const h = init.headers;
  if (h && typeof (h as { forEach?: unknown }).forEach === 'function') (h as { forEach(f: (v: string, k: string) => void): void }).forEach((v, k) => (headers[k] = v));
  else if (h && typeof h === 'object') Object.assign(headers, h as Record<string, string>);
  const body = await new Promise<string>((resolve, reject) => {
    const send = url.protocol === 'https:' ? request : httpRequest;
    const req = send(url, { method: 'GET', headers, ...(init.agent ? { agent: init.agent as Agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(text);
        else reject(new ApiError(status, messageOf(text)));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  return JSON.parse(body) as KubernetesListObject<T>;
}
