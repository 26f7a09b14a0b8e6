/**
 * Gantry's kubelet device plugin (`gantry k8s device-plugin`, one per GPU node): advertises the
 * node's GPUs as `nvidia.com/gpu` (device ID = GPU UUID) and, in Allocate, hands a container the
 * GPUs Gantry's scheduler recorded for its pod (device-allocation.ts), not the ones the kubelet
 * happened to pick. It also publishes the node's per-GPU detail (`gantry.dev/gpus`: UUIDs, model,
 * memory), so the scheduler's assignments name the same UUIDs the plugin hands out.
 *
 * Protocol: the kubelet device plugin API v1beta1 (proto/deviceplugin-v1beta1.proto) over unix
 * sockets in the kubelet's device-plugins folder. The kubelet removes every socket there when it
 * restarts; the plugin notices its socket is gone and serves and registers again.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { GpuSpec } from '../../core/model/node.js';
import { allocatedAnnotation, decideAllocation, deviceEnvironment, type ContainerGrant, type PluginDevice } from './device-allocation.js';
import { ANN_GPU_ALLOCATED, ANN_NODE_GPUS, ANN_NODE_GPU_LINKS, GFD_COUNT, GFD_MEMORY, GFD_PRODUCT, RES_GPU } from './names.js';
import { withDeadline } from './deadline.js';

export const DEVICE_PLUGIN_API_VERSION = 'v1beta1';
export const DEFAULT_PLUGIN_DIR = '/var/lib/kubelet/device-plugins';
export const KUBELET_SOCKET = 'kubelet.sock';
export const DEFAULT_POD_RESOURCES_SOCKET = '/var/lib/kubelet/pod-resources/kubelet.sock';
const POD_LIST_TIMEOUT_MS = 5000;
const POD_LIST_TRIES = 3;
const SLOW_CALL_MS = 1000;

/** A vendored proto, found from the source or the compiled file (dist/src/... -> src/...). */
function protoPath(file: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const name = `proto/${file}`;
  for (const p of [join(here, name), resolve(here, '../../../../src/adapters/k8s', name)]) if (existsSync(p)) return p;
  throw new Error(`kubelet API definition ${name} not found next to ${here}`);
}

interface ProtoApi {
  v1beta1: { Registration: grpc.ServiceClientConstructor; DevicePlugin: grpc.ServiceClientConstructor };
  v1: { PodResourcesLister: grpc.ServiceClientConstructor };
}

function loadApi(): ProtoApi {
  const options = { keepCase: true, longs: Number, defaults: true, arrays: true, objects: true };
  const def = protoLoader.loadSync([protoPath('deviceplugin-v1beta1.proto'), protoPath('podresources-v1.proto')], options);
  return grpc.loadPackageDefinition(def) as unknown as ProtoApi;
}

interface PodResourcesList { pod_resources: { name: string; namespace: string }[] }

export interface DevicePluginOptions {
  readonly kubeConfig: KubeConfig;
  /** This node's name (the Node object the kubelet registered). */
  readonly node: string;
  readonly gpus: readonly GpuSpec[];
  readonly gpuLinks?: readonly (readonly number[])[];
  /** A declared inventory (tests, demos): containers also get GANTRY_SIMULATED=1. */
  readonly simulated: boolean;
  /** The kubelet's device-plugins folder. */
  readonly pluginDir?: string;
  /** Our socket's name in that folder. */
  readonly endpoint?: string;
  /** The kubelet's pod-resources socket (default: /var/lib/kubelet/pod-resources/kubelet.sock). */
  readonly podResourcesSocket?: string;
  readonly log?: (m: string) => void;
  /** How often the socket is checked (kubelet restarts). */
  readonly checkEveryMs?: number;
}

interface AllocateRequest { container_requests: { devices_ids: string[] }[] }
interface PreferredRequest { container_requests: { available_deviceIDs: string[]; must_include_deviceIDs: string[]; allocation_size: number }[] }

export class GantryDevicePlugin {
  private readonly api = loadApi();
  private readonly dir: string;
  private readonly endpoint: string;
  private readonly devices: PluginDevice[];
  private readonly core: CoreV1Api;
  private readonly log: (m: string) => void;
  private server: grpc.Server | null = null;
  private readonly streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  /** Per pod uid: GPU containers served, and what they got (for the pod annotation). */
  private readonly handed = new Map<string, ContainerGrant[]>();
  private timer: NodeJS.Timeout | null = null;
  private kubeletSocketId = '';
  private stopped = false;
  /** Serialises Allocate / GetPreferredAllocation: each decision sees the previous ones. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Registrations made (a kubelet restart adds one). */
  registrations = 0;

  constructor(private readonly o: DevicePluginOptions) {
    this.dir = o.pluginDir ?? DEFAULT_PLUGIN_DIR;
    this.endpoint = o.endpoint ?? 'gantry-gpu.sock';
    this.devices = o.gpus.map((g, index) => ({ id: g.uuid ?? `GPU-${o.node}-${index}`, index, healthy: g.healthy !== false }));
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.log = o.log ?? ((m) => process.stderr.write(`${m}\n`));
  }

  get socketPath(): string {
    return join(this.dir, this.endpoint);
  }

  /** Publishes the GPUs on the Node, serves the API, registers with the kubelet. */
  async start(): Promise<void> {
    await this.publishNode();
    await this.serveAndRegister();
    this.timer = setInterval(() => void this.watchKubelet(), this.o.checkEveryMs ?? 1000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.closeServer();
  }

  private async publishNode(): Promise<void> {
    const gpus = this.o.gpus.map((g, i) => ({ uuid: this.devices[i]?.id, model: g.model, ...(g.memoryMiB !== undefined ? { memoryMiB: g.memoryMiB } : {}), mig: g.migEnabled === true, healthy: g.healthy !== false }));
    const node = await this.core.readNode({ name: this.o.node });
    const labels = node.metadata?.labels ?? {};
    const first = this.o.gpus[0];
    const newLabels: Record<string, string> = {};
    // GPU feature discovery sets these where it runs; the plugin fills them in only where it does not.
    if (first && labels[GFD_PRODUCT] === undefined) newLabels[GFD_PRODUCT] = first.model;
    if (first?.memoryMiB !== undefined && labels[GFD_MEMORY] === undefined) newLabels[GFD_MEMORY] = String(first.memoryMiB);
    if (labels[GFD_COUNT] === undefined) newLabels[GFD_COUNT] = String(this.o.gpus.length);
    if (this.o.simulated) newLabels['gantry.dev/simulated'] = 'true';
    const annotations: Record<string, string> = { [ANN_NODE_GPUS]: JSON.stringify(gpus) };
    if (this.o.gpuLinks && this.o.gpuLinks.length === gpus.length) annotations[ANN_NODE_GPU_LINKS] = JSON.stringify(this.o.gpuLinks);
    await this.core.patchNode({ name: this.o.node, body: { metadata: { labels: newLabels, annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  private kubeletSocket(): string {
    return join(this.dir, KUBELET_SOCKET);
  }

  private socketId(path: string): string {
    try {
      const s = statSync(path);
      return `${s.ino}/${s.ctimeMs}`;
    } catch {
      return '';
    }
  }

  private async serveAndRegister(): Promise<void> {
    await this.closeServer();
    rmSync(this.socketPath, { force: true });
    const server = new grpc.Server();
    server.addService(this.api.v1beta1.DevicePlugin.service, {
      GetDevicePluginOptions: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { pre_start_required: false, get_preferred_allocation_available: true }),
      ListAndWatch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        this.streams.add(call);
        call.on('cancelled', () => this.streams.delete(call));
        call.on('close', () => this.streams.delete(call));
        call.write(this.deviceList());
      },
      GetPreferredAllocation: (call: grpc.ServerUnaryCall<PreferredRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.answer('GetPreferredAllocation', () => this.preferred(call.request), grpc.status.INTERNAL, cb);
      },
      Allocate: (call: grpc.ServerUnaryCall<AllocateRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.log(`device-plugin: Allocate asked for ${call.request.container_requests.map((c) => c.devices_ids.length).join('+')} device(s)`);
        this.answer('Allocate', () => this.allocate(call.request), grpc.status.FAILED_PRECONDITION, cb);
      },
      PreStartContainer: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
    });
    await new Promise<void>((res, rej) => server.bindAsync(`unix://${this.socketPath}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
    this.server = server;
    this.kubeletSocketId = this.socketId(this.kubeletSocket());
    const client = new this.api.v1beta1.Registration(`unix://${this.kubeletSocket()}`, grpc.credentials.createInsecure());
    try {
      await new Promise<void>((res, rej) => {
        const req = { version: DEVICE_PLUGIN_API_VERSION, endpoint: this.endpoint, resource_name: RES_GPU, options: { pre_start_required: false, get_preferred_allocation_available: true } };
        (client as unknown as { Register: (r: unknown, o: grpc.CallOptions, cb: (e: Error | null) => void) => void }).Register(req, { deadline: Date.now() + 10_000 }, (e) => (e ? rej(e) : res()));
      });
    } catch (e) {
      throw new Error(`cannot register with the kubelet at ${this.kubeletSocket()}: ${(e as Error).message}`);
    } finally {
      client.close();
    }
    this.registrations++;
    this.log(`device-plugin: registered ${this.devices.length} ${RES_GPU} on ${this.o.node} (${this.socketPath})`);
  }

  private async closeServer(): Promise<void> {
    for (const s of this.streams) s.end();
    this.streams.clear();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((res) => s.tryShutdown(() => res()));
  }

  /** A kubelet restart removes our socket (and makes a new kubelet.sock): serve and register again. */
  private async watchKubelet(): Promise<void> {
    if (this.stopped || this.busy) return;
    const kubelet = this.socketId(this.kubeletSocket());
    if (existsSync(this.socketPath) && kubelet === this.kubeletSocketId) return;
    if (kubelet === '') return; // the kubelet is not up yet
    this.busy = true;
    try {
      this.log('device-plugin: the kubelet restarted; registering again');
      await this.serveAndRegister();
    } catch (e) {
      this.log(`device-plugin: ${(e as Error).message}; retrying`);
    } finally {
      this.busy = false;
    }
  }
  private busy = false;

  private deviceList(): unknown {
    return { devices: this.devices.map((d) => ({ ID: d.id, health: d.healthy ? 'Healthy' : 'Unhealthy' })) };
  }

  /**
   * Answers a kubelet call after the ones before it (serialised). The kubelet's pod admission
   * waits on these calls with no deadline: a slow answer or a failure is logged with its time.
   */
  private answer(what: string, work: () => Promise<unknown>, failCode: grpc.status, cb: grpc.sendUnaryData<unknown>): void {
    const asked = Date.now();
    this.serial(work).then(
      (r) => {
        const ms = Date.now() - asked;
        if (ms >= SLOW_CALL_MS) this.log(`device-plugin: ${what} answered after ${ms} ms`);
        cb(null, r);
      },
      (e: Error) => {
        this.log(`device-plugin: ${what} refused after ${Date.now() - asked} ms: ${e.message}`);
        cb({ code: failCode, details: e.message });
      },
    );
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.chain.then(f, f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * The pods the kubelet knows (namespace/name), from its pod-resources List; undefined when it
   * cannot be read (then the oldest matching pod is taken).
   */
  private async kubeletPods(): Promise<Set<string> | undefined> {
    const socket = this.o.podResourcesSocket ?? DEFAULT_POD_RESOURCES_SOCKET;
    if (!existsSync(socket)) {
      if (!this.warnedNoPodResources) this.log(`device-plugin: no kubelet pod-resources socket at ${socket}; pods bound at once are told apart by age only`);
      this.warnedNoPodResources = true;
      return undefined;
    }
    const client = new this.api.v1.PodResourcesLister(`unix://${socket}`, grpc.credentials.createInsecure());
    try {
      const list = await new Promise<PodResourcesList>((res, rej) => {
        (client as unknown as { List: (r: unknown, o: grpc.CallOptions, cb: (e: Error | null, v: PodResourcesList) => void) => void }).List({}, { deadline: Date.now() + 2000 }, (e, v) => (e ? rej(e) : res(v)));
      });
      return new Set(list.pod_resources.map((p) => `${p.namespace}/${p.name}`));
    } catch (e) {
      this.log(`device-plugin: cannot read the kubelet's pod-resources (${(e as Error).message}); taking the oldest matching pod`);
      return undefined;
    } finally {
      client.close();
    }
  }

  private warnedNoPodResources = false;

  /**
   * The pods bound to this node. The kubelet waits on Allocate with no deadline, and its pod
   * admission waits with it: a list the apiserver never answers is given up after 5 s and
   * asked again (3 tries), so a stalled connection cannot hold the node's pods Pending.
   */
  private async podsOnNode(): Promise<V1Pod[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const list = this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.o.node}` });
        return (await withDeadline(list, POD_LIST_TIMEOUT_MS, `the apiserver did not list the pods of ${this.o.node} within ${POD_LIST_TIMEOUT_MS} ms`)).items;
      } catch (e) {
        if (attempt >= POD_LIST_TRIES) throw e;
        this.log(`device-plugin: ${(e as Error).message}; asking again`);
      }
    }
  }

  private handedCounts(): Map<string, number> {
    return new Map([...this.handed].map(([uid, g]) => [uid, g.length]));
  }

  private async preferred(req: PreferredRequest): Promise<unknown> {
    const [pods, known] = await Promise.all([this.podsOnNode(), this.kubeletPods()]);
    return {
      container_responses: req.container_requests.map((c) => {
        const d = decideAllocation(pods, this.o.node, c.allocation_size, this.devices, this.handedCounts(), known);
        if (d.kind === 'gantry' && d.grant.uuids.every((u) => c.available_deviceIDs.includes(u)) && c.must_include_deviceIDs.every((u) => d.grant.uuids.includes(u))) {
          return { deviceIDs: d.grant.uuids };
        }
        const rest = c.available_deviceIDs.filter((x) => !c.must_include_deviceIDs.includes(x));
        return { deviceIDs: [...c.must_include_deviceIDs, ...rest].slice(0, c.allocation_size) };
      }),
    };
  }

  private async allocate(req: AllocateRequest): Promise<unknown> {
    const [pods, known] = await Promise.all([this.podsOnNode(), this.kubeletPods()]);
    const responses = [];
    for (const c of req.container_requests) {
      const d = decideAllocation(pods, this.o.node, c.devices_ids.length, this.devices, this.handedCounts(), known);
      if (d.kind === 'error') throw new Error(d.message);
      if (d.kind === 'kubelet') {
        this.log(`device-plugin: ${d.reason}; handing the kubelet's pick ${c.devices_ids.join(',')}`);
        responses.push({ envs: deviceEnvironment(c.devices_ids, this.o.simulated) });
        continue;
      }
      const g = d.grant;
      const list = [...(this.handed.get(g.uid) ?? []), g];
      this.handed.set(g.uid, list);
      this.log(`device-plugin: ${g.pod} container ${g.container} gets ${g.uuids.join(',')}${g.uuids.join(',') === [...c.devices_ids].sort().join(',') ? '' : ` (the kubelet picked ${c.devices_ids.join(',')})`}`);
      responses.push({ envs: deviceEnvironment(g.uuids, this.o.simulated) });
      this.recordOnPod(g, list);
    }
    return { container_responses: responses };
  }

  /** Writes what the pod's containers were handed (for people, tests, and a restarted plugin). */
  private recordOnPod(g: ContainerGrant, list: readonly ContainerGrant[]): void {
    const [namespace, name] = [g.pod.slice(0, g.pod.indexOf('/')), g.pod.slice(g.pod.indexOf('/') + 1)];
    this.core
      .patchNamespacedPod({ name, namespace, body: { metadata: { annotations: { [ANN_GPU_ALLOCATED]: allocatedAnnotation(list) } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
      .catch((e: unknown) => this.log(`device-plugin: could not record the devices on ${g.pod}: ${(e as Error).message}`));
  }
}
