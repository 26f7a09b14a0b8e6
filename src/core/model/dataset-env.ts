/**
 * The environment variable that tells a workload where a dataset's read-only copy is, the same
 * in `gantry up` (worker-env.ts) and on Kubernetes (the webhook's data wait, data-wait.ts).
 */
export function datasetEnvName(name: string): string {
  return `GANTRY_DATASET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}
