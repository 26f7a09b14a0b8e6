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
 *
 * With admission policies (`--policies FILE`, docs/policies.md), the validating webhook judges
 * every gantry pod at CREATE (`/validate`, no subresource) by the same evaluation as `gantry up`
 * (src/core/admission-policy), and denies it naming the policy and the rule.
 *
 * It also fences the scheduler's writes (validating, `/validate`): a Binding or an Eviction that
 * carries gantry.dev/leader-epoch is refused unless the Lease, read when the request arrives,
 * still names that holder and term. A leader that lost the Lease while a write was on its way
 * (paused after its own check, or the request delayed) cannot bind or evict any more.
 */
import { createServer, type Server } from 'node:https';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import { ANN_ENV_CONFIGMAP, ANN_LEADER_EPOCH } from './names.js';
import { gpuRequestOf, isGantryPod, PodSpecError } from './pods.js';
import type { LeaseRecord } from './api.js';
import { describeDenial, evaluate } from '../../core/admission-policy/evaluate.js';
import type { PolicySet } from '../../core/admission-policy/types.js';
import { podPolicySubject } from './pod-policy-subject.js';
import { dataWaitOps, type DataWaitOptions, type PatchOp } from './data-wait.js';
import { inferenceSpec, InferenceSpecError, type InferenceServiceObject } from './inference-spec.js';
import { isUserError } from '../../core/errors.js';

export interface AdmissionRequest {
  uid: string;
  operation?: string;
  subResource?: string;
  namespace?: string;
  userInfo?: { username?: string };
  /** What is written (a Pod, a Binding, an Eviction, an Event). */
  kind?: { group?: string; version?: string; kind?: string };
  object?: V1Pod;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  patchType?: 'JSONPatch';
  patch?: string;
}


function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The admission decision for one pod (pure apart from the random ConfigMap name). */
export function admitPod(req: AdmissionRequest, newName: () => string = () => `gantry-gpu-${randomBytes(6).toString('hex')}`, dataWait?: DataWaitOptions): AdmissionResponse {
  const pod = req.object;
  if (!pod || req.operation !== 'CREATE' || !isGantryPod(pod)) return { uid: req.uid, allowed: true };
  let kind: string;
  try {
    kind = gpuRequestOf(pod).kind;
  } catch (e) {
    if (e instanceof PodSpecError) return { uid: req.uid, allowed: false, status: { code: 422, message: `gantry: ${e.message}` } };
    throw e;
  }
  // The data wait goes after the share's edits: it inserts at initContainers/0, which would
  // shift the indices those use.
  let waitOps: PatchOp[] = [];
  try {
    waitOps = dataWait ? dataWaitOps(pod, dataWait) : [];
  } catch (e) {
    if (isUserError(e)) return { uid: req.uid, allowed: false, status: { code: 422, message: `gantry: ${e.message}` } };
    throw e;
  }
  if (kind !== 'share') return withPatch(req.uid, waitOps);
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
  return withPatch(req.uid, [...ops, ...waitOps]);
}

function withPatch(uid: string, ops: readonly PatchOp[]): AdmissionResponse {
  if (ops.length === 0) return { uid, allowed: true };
  return { uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
}

/**
 * The admission policies' decision for a pod (pure): a gantry pod at CREATE is judged as one
 * worker of its namespace's team, created by the request's user; a refusal is 403 naming each
 * policy and rule. Other pods and operations are allowed.
 */
export function admitPodPolicies(req: AdmissionRequest, policies: PolicySet): AdmissionResponse {
  const pod = req.object;
  if (!pod || req.operation !== 'CREATE' || req.subResource !== undefined || !isGantryPod(pod)) return { uid: req.uid, allowed: true };
  let v;
  try {
    v = evaluate(policies, podPolicySubject(pod, req.userInfo?.username ?? '', req.namespace));
  } catch (e) {
    if (e instanceof PodSpecError) return { uid: req.uid, allowed: false, status: { code: 422, message: `gantry: ${e.message}` } };
    throw e;
  }
  if (v.allowed) return { uid: req.uid, allowed: true };
  return { uid: req.uid, allowed: false, status: { code: 403, message: `gantry: ${v.denials.map(describeDenial).join('; ')}` } };
}

/**
 * The fence decision for a Binding, Eviction or Event (pure): allowed without an epoch annotation (not
 * Gantry's), or when `lease` (null: no Lease; undefined: it could not be read) names the same
 * holder and term.
 */
export function admitWrite(req: AdmissionRequest, lease: LeaseRecord | null | undefined): AdmissionResponse {
  const epoch = req.object?.metadata?.annotations?.[ANN_LEADER_EPOCH];
  if (req.operation !== 'CREATE' || epoch === undefined) return { uid: req.uid, allowed: true };
  const colon = epoch.indexOf(':');
  const [term, holder] = [Number(epoch.slice(0, colon)), epoch.slice(colon + 1)];
  const what = req.kind?.kind === 'Event' ? 'event' : req.subResource === 'eviction' ? 'eviction' : 'binding';
  if (lease === undefined) return { uid: req.uid, allowed: false, status: { code: 503, message: `gantry: ${what} refused: the scheduler Lease could not be read to check leader term ${epoch}` } };
  if (lease === null || lease.holder !== holder || lease.transitions !== term) {
    const now = lease === null ? 'there is no Lease' : `the Lease is held by ${lease.holder || '(nobody)'} in term ${lease.transitions}`;
    return { uid: req.uid, allowed: false, status: { code: 403, message: `gantry: stale ${what} refused: made by ${holder} in term ${term}, but ${now}` } };
  }
  return { uid: req.uid, allowed: true };
}

/**
 * An InferenceService at CREATE or UPDATE (`/validate-inferenceservice`, pure): refused with
 * every bad field named when Gantry could not run its replicas (what the CRD schema cannot say:
 * a GPU request the scheduler refuses, cross-field bounds).
 */
export function admitInferenceService(req: AdmissionRequest): AdmissionResponse {
  const obj = req.object as InferenceServiceObject | undefined;
  if (!obj || (req.operation !== 'CREATE' && req.operation !== 'UPDATE') || req.subResource !== undefined) return { uid: req.uid, allowed: true };
  try {
    inferenceSpec(obj);
    return { uid: req.uid, allowed: true };
  } catch (e) {
    if (e instanceof InferenceSpecError) return { uid: req.uid, allowed: false, status: { code: 422, message: `gantry: ${e.message}` } };
    throw e;
  }
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

/** Reads the scheduler's Lease for the fence; absent = the fence is off (every write allowed). */
export type LeaseReader = () => Promise<LeaseRecord | null>;

async function handle(req: IncomingMessage, res: ServerResponse, log: (m: string) => void, readLease: LeaseReader | undefined, policies: (() => PolicySet | undefined) | undefined, dataWait: DataWaitOptions | undefined): Promise<void> {
  if (req.method === 'GET' && (req.url === '/healthz' || req.url === '/readyz')) {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return;
  }
  const validate = req.url?.startsWith('/validate') === true;
  if (req.method !== 'POST' || (!req.url?.startsWith('/mutate') && !validate)) {
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
  let response: AdmissionResponse;
  if (req.url?.startsWith('/validate-inferenceservice') === true) {
    response = admitInferenceService(review.request);
    if (!response.allowed) log(`denied InferenceService ${review.request.namespace ?? ''}/${review.request.object?.metadata?.name ?? ''}: ${response.status?.message ?? ''}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
    return;
  }
  if (validate && review.request.subResource === undefined) {
    const set = policies?.();
    response = set ? admitPodPolicies(review.request, set) : { uid: review.request.uid, allowed: true };
  } else if (validate) {
    let lease: LeaseRecord | null | undefined;
    try {
      lease = readLease ? await readLease() : null;
    } catch (e) {
      log(`fence: cannot read the Lease: ${(e as Error).message}`);
      lease = undefined;
    }
    response = readLease ? admitWrite(review.request, lease) : { uid: review.request.uid, allowed: true };
  } else response = admitPod(review.request, undefined, dataWait);
  if (!response.allowed) log(`denied ${validate ? `${review.request.subResource ?? 'write'} of ` : ''}pod ${review.request.object?.metadata?.namespace ?? ''}/${review.request.object?.metadata?.name ?? review.request.object?.metadata?.generateName ?? ''}: ${response.status?.message ?? ''}`);
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
}

export interface WebhookServerOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly host?: string;
  readonly port: number;
  readonly log?: (msg: string) => void;
  /** Turns the fence on (`/validate`); without it every write is allowed there. */
  readonly readLease?: LeaseReader;
  /** The admission policies in force, judged on gantry pods at `/validate` (read per request, so they can be reloaded); absent: every pod is allowed there. */
  readonly policies?: () => PolicySet | undefined;
  /** Hold pods that name datasets until their data is on the node (an init container; data-wait.ts). */
  readonly dataWait?: DataWaitOptions;
}

/** Starts the HTTPS webhook server; resolves with the server and its port once listening. */
export function startWebhookServer(opts: WebhookServerOptions): Promise<{ server: Server; port: number }> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const server = createServer({ cert: opts.cert, key: opts.key }, (req, res) => {
    handle(req, res, log, opts.readLease, opts.policies, opts.dataWait).catch((e: unknown) => {
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
