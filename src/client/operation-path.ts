/**
 * An operation's URL path from its OpenAPI path template (/v1/jobs/{id}), its path parameters
 * and its query. Shared by the CLI's client and the dashboard's, so both build URLs alike.
 */
export function operationPath(template: string, params: Readonly<Record<string, string | number>> = {}, query: Readonly<Record<string, string | number | boolean | undefined>> = {}): string {
  const path = template.replace(/\{([A-Za-z]+)\}/g, (_m, k: string) => encodeURIComponent(String(params[k] ?? '')));
  const q = new URLSearchParams(Object.entries(query).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)] as [string, string]])));
  return [...q].length > 0 ? `${path}?${q.toString()}` : path;
}
