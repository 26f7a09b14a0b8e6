/**
 * The job rules zod checks in code (superRefine, quantity parsing, the NUL-byte refinement in
 * src/spec/job-spec.ts), written as JSON Schema keywords on the document's JobSpec, so that a
 * job the document calls valid is one the server accepts. test/server/schemathesis.e2e.test.ts
 * holds the two to each other: a schema-valid job refused with 400 fails it.
 */
import { GPU_MODELS } from '../../core/model/gpu-catalog.js';
import { MIN_GPU_SHARE } from '../../spec/job-spec.js';

type Schema = Record<string, unknown>;

/**
 * Catalog model names and aliases, as the document lists them (findGpuModel also takes them
 * in any case and with spaces around: a list, not a case-blind pattern, keeps generators fast).
 */
export const GPU_MODEL_NAMES: readonly string[] = GPU_MODELS.flatMap((g) => [g.name, ...g.aliases]);

const NO_NUL = { pattern: '^[^\\u0000]*$' };
const cpu = { anyOf: [{ type: 'string', maxLength: 32, pattern: '^\\s*[0-9]+(\\.[0-9]+)?m?\\s*$' }, { type: 'number', minimum: 0 }], description: 'CPUs: 2, 1.5 or 500m' };
const memory = (what: string) => ({ anyOf: [{ type: 'string', maxLength: 32, pattern: '^\\s*[0-9]+(\\.[0-9]+)?\\s*([KMGT]i?|k)?\\s*$' }, { type: 'number', minimum: 0 }], description: `${what}: 16Gi, 512Mi, 20G, or bytes` });

function props(s: Schema | undefined): Record<string, Schema> {
  return ((s?.['properties'] as Record<string, Schema> | undefined) ?? {});
}

/** Adds the rules to zod's JSON Schema of the job (mutates and returns it). */
export function withJobRules(job: Schema): Schema {
  const p = props(job);
  const resources = p['resources'] as Schema;
  const r = props(resources);
  r['cpu'] = cpu;
  r['memory'] = memory('memory');
  r['gpuMemory'] = memory('GPU memory for a share of one GPU');
  r['gpu'] = { anyOf: [{ type: 'number', minimum: MIN_GPU_SHARE, exclusiveMaximum: 1 }, { type: 'integer', minimum: 1, maximum: 64 }], description: `whole GPUs (1 to 64) or a share of one GPU (${MIN_GPU_SHARE} to below 1)` };
  r['mig'] = { type: 'string', enum: [...new Set(GPU_MODELS.flatMap((g) => g.migProfiles.map((m) => m.name)))].sort(), description: 'a MIG slice by profile name' };
  r['gpuModels'] = { type: 'array', maxItems: 16, items: { type: 'string', enum: GPU_MODEL_NAMES }, description: 'allowed GPU models (catalog names or aliases)' };
  // A MIG slice excludes gpu and gpuMemory; gpuMemory goes with a share below one GPU.
  resources['not'] = { anyOf: [{ required: ['mig', 'gpu'] }, { required: ['mig', 'gpuMemory'] }] };
  resources['if'] = { required: ['gpu', 'gpuMemory'] };
  resources['then'] = { properties: { gpu: { type: 'number', exclusiveMaximum: 1 } } };
  // network: host only for a job in a container.
  job['if'] = { properties: { network: { const: 'host' } }, required: ['network'] };
  job['then'] = { required: ['image'] };
  // Text handed to the kernel cannot hold a NUL byte.
  for (const key of ['workingDir', 'image']) Object.assign(p[key] ?? {}, { allOf: [...(((p[key] ?? {})['allOf'] as Schema[] | undefined) ?? []), NO_NUL] });
  const command = p['command'] as { anyOf?: Schema[] } | undefined;
  for (const alt of command?.anyOf ?? []) Object.assign(alt['type'] === 'array' ? (alt['items'] as Schema) : alt, NO_NUL);
  Object.assign((p['env']?.['additionalProperties'] as Schema | undefined) ?? {}, NO_NUL);
  Object.assign(props(p['datasets']?.['items'] as Schema)['path'] ?? {}, NO_NUL);
  return job;
}
