/**
 * The Kubernetes vocabulary of Gantry: its scheduler name, custom resources, and the labels and
 * annotations it reads and writes. One place, so that the scheduler, the webhook, deploy/ and
 * the docs agree.
 */

export const SCHEDULER_NAME = 'gantry';

/** Gantry's own API group (the Queue custom resource). */
export const GANTRY_GROUP = 'scheduling.gantry.dev';
export const QUEUE_VERSION = 'v1alpha1';
export const QUEUE_PLURAL = 'queues';
/** The InferenceService custom resource (namespaced, same group; docs/inference.md, "Kubernetes"). */
export const INFERENCE_VERSION = 'v1alpha1';
export const INFERENCE_PLURAL = 'inferenceservices';
export const INFERENCE_KIND = 'InferenceService';
/** Replica pod labels: the InferenceService it serves, and the revision of its template. */
export const LABEL_INFERENCE_SERVICE = 'gantry.dev/inference-service';
export const LABEL_INFERENCE_REVISION = 'gantry.dev/inference-revision';

/** scheduler-plugins' PodGroup (what Kubeflow's training operator creates for gangs). */
export const PODGROUP_GROUP = 'scheduling.x-k8s.io';
export const PODGROUP_VERSION = 'v1alpha1';
export const PODGROUP_PLURAL = 'podgroups';
/** Pod label naming its PodGroup (current scheduler-plugins), and the older spelling. */
export const POD_GROUP_LABEL = 'scheduling.x-k8s.io/pod-group';
export const POD_GROUP_LABEL_LEGACY = 'pod-group.scheduling.sigs.k8s.io';

/** Pod (or PodGroup) label naming the Gantry queue; absent = the `default` queue. */
export const QUEUE_LABEL = 'gantry.dev/queue';
export const DEFAULT_QUEUE = 'default';

// Pod annotations a user writes.
/** A share of one GPU's compute, 0 < f < 1 (e.g. "0.5"). */
export const ANN_GPU_FRACTION = 'gantry.dev/gpu-fraction';
/** GPU memory for a share: a quantity ("20Gi") or a number of MiB ("20480"). */
export const ANN_GPU_MEMORY = 'gantry.dev/gpu-memory';
/** Allowed GPU models, comma separated (canonical names or GFD product names). */
export const ANN_GPU_MODELS = 'gantry.dev/gpu-models';
/** "false" = the pod may not be preempted (it then runs only within its queue's quota). */
export const ANN_PREEMPTIBLE = 'gantry.dev/preemptible';
/**
 * "true": the pod saves a checkpoint when it is sent SIGTERM, within its grace period (what an
 * admission policy's requireCheckpointAboveGpus asks of large preemptible pods).
 */
export const ANN_CHECKPOINT = 'gantry.dev/checkpoint';
/** Pod annotation: datasets the pod reads (comma-separated); nodes that cache them score higher. */
export const ANN_DATASETS = 'gantry.dev/datasets';
/** How long the pod's data wait may last (a duration; "0": for ever), instead of the webhook's --data-wait-timeout. */
export const ANN_DATA_WAIT_TIMEOUT = 'gantry.dev/data-wait-timeout';
/**
 * Node annotation written by the node's cache agent: what its dataset cache holds (JSON, see
 * node-cache-status.ts; a comma-separated list of names is still read, as complete copies).
 */
export const ANN_NODE_CACHED_DATASETS = 'gantry.dev/cached-datasets';
/**
 * Node annotation written by the scheduler: datasets to fill on the node for pending pods
 * expected there (JSON, see node-cache-status.ts). The agent fills and pins them.
 */
export const ANN_NODE_CACHE_PREFETCH = 'gantry.dev/cache-prefetch';
/** Node annotation written by people: dataset names to evict from the node's cache (JSON list). */
export const ANN_NODE_CACHE_EVICT = 'gantry.dev/cache-evict';

// Pod annotations Gantry writes.
/** The GPU assignment (JSON), written with the binding; the source of truth after a restart. */
export const ANN_ASSIGNMENT = 'gantry.dev/gpu-assignment';
/** The assigned GPU (or MIG) UUIDs, comma separated, for people and tools. */
export const ANN_GPU_UUIDS = 'gantry.dev/gpu-uuids';
/**
 * On each member of a gang, written with its binding: where every member of the gang goes (JSON,
 * see pods.ts `encodePlan`). A new leader that finds a gang partly bound binds the rest to it.
 */
export const ANN_GANG_PLAN = 'gantry.dev/gang-plan';
/** The leader term that bound the pod: `<Lease transitions>:<replica identity>`. */
export const ANN_LEADER_EPOCH = 'gantry.dev/leader-epoch';
/**
 * Written by Gantry's device plugin after Allocate: the devices each GPU container was handed,
 * `<container>=<uuid>,<uuid>;...` (device-allocation.ts).
 */
export const ANN_GPU_ALLOCATED = 'gantry.dev/gpu-allocated';
/** Name of the per-pod ConfigMap holding the GPU environment (set by the webhook). */
export const ANN_ENV_CONFIGMAP = 'gantry.dev/gpu-env-configmap';

// Node metadata Gantry reads besides the device plugin's capacity and GFD's labels.
/** Per-GPU detail (JSON list of {uuid, model, memoryMiB, mig}); optional. */
export const ANN_NODE_GPUS = 'gantry.dev/gpus';
/** GPU link matrix (JSON, LINK costs, see core/model/node.ts); optional. */
export const ANN_NODE_GPU_LINKS = 'gantry.dev/gpu-links';
/** How the node isolates GPU shares: mps | software | timeslice | none. */
export const LABEL_SHARING = 'gantry.dev/gpu-sharing';
export const LABEL_RACK = 'gantry.dev/rack';
export const LABEL_ZONE = 'topology.kubernetes.io/zone';

// Device plugin resources and GPU feature discovery labels.
export const RES_GPU = 'nvidia.com/gpu';
export const RES_MIG_PREFIX = 'nvidia.com/mig-';
export const GFD_PRODUCT = 'nvidia.com/gpu.product';
export const GFD_MEMORY = 'nvidia.com/gpu.memory';
export const GFD_COUNT = 'nvidia.com/gpu.count';
export const GFD_CLIQUE = 'nvidia.com/gpu.clique';

/** Leader election Lease (in the scheduler's namespace). */
export const LEASE_NAME = 'gantry-scheduler';
