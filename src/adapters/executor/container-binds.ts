/**
 * Which host folders a job's container may see. A bind is refused when it is the host's root,
 * lies outside the job's own folders (its working directory and job directory), or contains the
 * server's data directory (tokens, the database, other jobs' files). Paths are compared after
 * resolving symbolic links, since a bind mount follows them: a working directory that is a link
 * to `/` is the host's root. Used by the controller before it starts a container and again by
 * the container runner, which is the last step before the daemon mounts anything.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith('/') ? parent : `${parent}/`);
}

/** One line per refused bind (empty when all are allowed). */
export function bindProblems(binds: readonly string[], allowedRoots: readonly string[], hiddenPaths: readonly string[]): string[] {
  const roots = allowedRoots.map(real);
  const hidden = hiddenPaths.map(real);
  const problems: string[] = [];
  for (const bind of binds) {
    if (!bind.startsWith('/')) {
      problems.push(`bind "${bind}" is not an absolute path`);
      continue;
    }
    const path = real(bind);
    const shown = path === bind ? `"${bind}"` : `"${bind}" (${path})`;
    if (path === '/') problems.push(`bind ${shown} is the host's root folder`);
    else if (!roots.some((r) => r !== '/' && inside(path, r))) problems.push(`bind ${shown} is outside the job's own folders (${allowedRoots.join(', ')})`);
    else {
      const h = hidden.find((p) => inside(p, path));
      if (h !== undefined) problems.push(`bind ${shown} contains the server's data directory ${h}`);
    }
  }
  return problems;
}
