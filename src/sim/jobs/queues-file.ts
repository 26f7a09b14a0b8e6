/**
 * `gantry sim jobs --queues FILE`: a queue tree in YAML, with the fields of `gantry queue`
 * (GPUs, not milli-GPUs):
 *
 *     queues:
 *       - { name: org, guaranteedGpus: 48 }
 *       - { name: team-a, parent: org, guaranteedGpus: 24 }
 *       - { name: scratch, parent: org, weight: 1 }
 *
 * Validated as the scheduler will read it (QueueTree), so a bad tree fails here with the file.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../../core/errors.js';
import { QueueTree } from '../../core/scheduler/queues.js';
import type { QueueSpec } from '../../core/scheduler/types.js';

const amount = z.number().finite().nonnegative();
const queueSchema = z
  .object({
    name: z.string().min(1),
    parent: z.string().min(1).optional(),
    guaranteedGpus: amount.optional(),
    limitGpus: amount.optional(),
    weight: amount.optional(),
  })
  .strict();
const fileSchema = z.object({ queues: z.array(queueSchema).min(1) }).strict();

export function loadQueuesFile(file: string): QueueSpec[] {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError('QUEUES_FILE_INVALID', `${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserError('QUEUES_FILE_INVALID', `${file}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'} (expected queues: a list of { name, parent?, guaranteedGpus?, limitGpus?, weight? })`);
  }
  const specs: QueueSpec[] = parsed.data.queues.map((q) => ({
    name: q.name,
    ...(q.parent !== undefined ? { parent: q.parent } : {}),
    ...(q.guaranteedGpus !== undefined ? { guaranteed: { gpu: Math.round(q.guaranteedGpus * 1000) } } : {}),
    ...(q.limitGpus !== undefined ? { limit: { gpu: Math.round(q.limitGpus * 1000) } } : {}),
    ...(q.weight !== undefined ? { overQuotaWeight: q.weight } : {}),
  }));
  try {
    new QueueTree(specs);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(e.code, `${file}: ${e.message}`);
    throw e;
  }
  return specs;
}
