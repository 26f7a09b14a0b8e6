/**
 * The mutating admission webhook (`gantry k8s webhook`). For a pod that names the gantry
 * scheduler it
 *  - denies a GPU request Gantry cannot honour (bad fraction, two kinds of GPU, ...), with the
 *    reason, so the mistake shows at `kubectl apply` rather than as a pod pending forever;
 *  - for a GPU share (gantry.dev/gpu-fraction / gpu-memory), makes every container take its
 *    environment from a per-pod ConfigMap (envFrom, not optional): the scheduler writes that
 *    ConfigMap (NVIDIA_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES, MPS limits) before it binds the
 *    pod, so the container sees only its assigned GPU and its limits, and cannot start before.
 * The ConfigMap's name is chosen here and recorded in an annotation, so it does not depend on
 * the pod's name (which a generateName pod does not have yet at admission).
 */
import { createServer, type Server } from 'node:https';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import { ANN_ENV_CONFIGMAP } from './names.js';
import { gpuRequestOf, isGantryPod, PodSpecError } from './pods.js';

export interface AdmissionRequest {
  uid: string;
  operation?: string;
  object?: V1Pod;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  patchType?: 'JSONPatch';
  patch?: string;
}

type PatchOp = { op: 'add'; path: string; value: unknown };

function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The admission decision for one pod (pure apart from the random ConfigMap name). */
export function admitPod(req: AdmissionRequest, newName: () => string = () => `gantry-gpu-${randomBytes(6).toString('hex')}`): AdmissionResponse {
  const pod = req.object;
  if (!pod || req.operation !== 'CREATE' || !isGantryPod(pod)) return { uid: req.uid, allowed: true };
  let kind: string;
  try {
    kind = gpuRequestOf(pod).kind;
  } catch (e) {
    if (e instanceof PodSpecError) return { uid: req.uid, allowed: false, status: { code: 422, message: `gantry: ${e.message}` } };
    throw e;
  }
  if (kind !== 'share') return { uid: req.uid, allowed: true };
  const ops: PatchOp[] = [];
  const annotations = pod.metadata?.annotations;
  const cm = annotations?.[ANN_ENV_CONFIGMAP] ?? newName();
  if (!annotations) ops.push({ op: 'add', path: '/metadata/annotations', value: { [ANN_ENV_CONFIGMAP]: cm } });
  else if (annotations[ANN_ENV_CONFIGMAP] === undefined) ops.push({ op: 'add', path: `/metadata/annotations/${escapePointer(ANN_ENV_CONFIGMAP)}`, value: cm });
  const source = { configMapRef: { name: cm, optional: false } };
  for (const field of ['initContainers', 'containers'] as const) {
    (pod.spec?.[field] ?? []).forEach((c, i) => {
      if (c.envFrom?.some((e) => e.configMapRef?.name === cm)) return;
      if (c.envFrom === undefined) ops.push({ op: 'add', path: `/spec/${field}/${i}/envFrom`, value: [source] });
      else ops.push({ op: 'add', path: `/spec/${field}/${i}/envFrom/-`, value: source });
    });
  }
  if (ops.length === 0) return { uid: req.uid, allowed: true };
  return { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('request too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, log: (m: string) => void): Promise<void> {
  if (req.method === 'GET' && (req.url === '/healthz' || req.url === '/readyz')) {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return;
  }
  if (req.method !== 'POST' || !req.url?.startsWith('/mutate')) {
    res.writeHead(404).end();
    return;
  }
  let review: { apiVersion?: string; kind?: string; request?: AdmissionRequest };
  try {
    review = JSON.parse(await readBody(req, 8 * 1024 * 1024)) as typeof review;
    if (!review.request?.uid) throw new Error('no request.uid');
  } catch (e) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad AdmissionReview: ${(e as Error).message}`);
    return;
  }
  const response = admitPod(review.request);
  if (!response.allowed) log(`denied pod ${review.request.object?.metadata?.namespace ?? ''}/${review.request.object?.metadata?.name ?? review.request.object?.metadata?.generateName ?? ''}: ${response.status?.message ?? ''}`);
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
}

export interface WebhookServerOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly host?: string;
  readonly port: number;
  readonly log?: (msg: string) => void;
}

/** Starts the HTTPS webhook server; resolves with the server and its port once listening. */
export function startWebhookServer(opts: WebhookServerOptions): Promise<{ server: Server; port: number }> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const server = createServer({ cert: opts.cert, key: opts.key }, (req, res) => {
    handle(req, res, log).catch((e: unknown) => {
      log(`webhook error: ${(e as Error).message}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a ? a.port : opts.port });
    });
  });
}
