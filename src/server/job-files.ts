/**
 * A job's folders in the team workspace, and how the server reads files a job could have
 * planted. Layout (docs/security.md):
 *
 *   <workspace>/                         root 0711
 *   <workspace>/<team>/jobs/<id>/        root:team 0750 (the team reads, no job writes)
 *     logs/                              root:team 0750, worker-N.log root:team 0640
 *     checkpoints/, work/                job:team 2770 (work/ is the default cwd and HOME)
 *     control/                           job 0700 (progress.jsonl, checkpoint-ack)
 *
 * Whatever lies in checkpoints/, work/ or control/ is the job's: it may be a FIFO, a symlink to
 * /dev/zero or a sparse file of terabytes, so reads never follow links, never block, and are
 * bounded.
 */
import { chmodSync, chownSync, closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, realpathSync, unlinkSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Identity } from '../adapters/executor/job-identity.js';

export interface JobPaths {
  readonly dir: string;
  readonly logs: string;
  readonly checkpointDir: string;
  readonly workDir: string;
  readonly controlDir: string;
  readonly ackFile: string;
  readonly progressFile: string;
}

export function jobPaths(workspace: string, team: string, id: string): JobPaths {
  const dir = join(workspace, team, 'jobs', id);
  const control = join(dir, 'control');
  return { dir, logs: join(dir, 'logs'), checkpointDir: join(dir, 'checkpoints'), workDir: join(dir, 'work'), controlDir: control, ackFile: join(control, 'checkpoint-ack'), progressFile: join(control, 'progress.jsonl') };
}

/** mkdir, then owner and mode set explicitly (mkdir's mode is cut by the umask and skips setgid). */
function dir(path: string, mode: number, owner: { uid: number; gid: number } | null): void {
  mkdirSync(path, { recursive: true });
  if (owner) chownSync(path, owner.uid, owner.gid);
  chmodSync(path, mode);
}

/** The workspace root: anyone may pass through, no one may list it. */
export function prepareWorkspace(workspace: string): void {
  dir(workspace, 0o711, null);
}

/**
 * Creates (or re-owns, for a later attempt) the job's folders. Without an identity (the server
 * is not root) everything belongs to the server's user, with the same modes.
 */
export function prepareJobDirs(workspace: string, team: string, p: JobPaths, identity: Identity | undefined): void {
  const teamOwned = identity ? { uid: 0, gid: identity.gid } : null;
  const jobOwned = identity ? { uid: identity.uid, gid: identity.gid } : null;
  dir(join(workspace, team), 0o750, teamOwned);
  dir(join(workspace, team, 'jobs'), 0o750, teamOwned);
  dir(p.dir, 0o750, teamOwned);
  dir(p.logs, 0o750, teamOwned);
  dir(p.checkpointDir, 0o2770, jobOwned);
  dir(p.workDir, 0o2770, jobOwned);
  dir(p.controlDir, 0o700, jobOwned);
}

/** Removes a file the job controls; whatever it made of the name (a folder, say) is left alone. */
export function removeJobFile(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Absent, or not a file: the job's business, not an error of the server.
  }
}

/** A regular file here (not a link, FIFO or device)? */
export function isPlainFile(file: string): boolean {
  try {
    return lstatSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * Reads at most `max` bytes from `offset` of a file the job controls: no symlink is followed
 * (O_NOFOLLOW), opening a FIFO does not wait for a writer (O_NONBLOCK), anything but a regular
 * file reads as absent, and when `within` is given the file's real path must lie inside it.
 * Returns the file's size and the bytes read, or null.
 */
export function readJobFile(file: string, offset: number, max: number, within?: string): { size: number; data: Buffer } | null {
  if (!isPlainFile(file)) return null;
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return null;
    if (within !== undefined) {
      const root = realpathSync(within);
      if (!realpathSync(file).startsWith(root + sep)) return null;
    }
    const start = Math.min(offset, st.size);
    const len = Math.max(0, Math.min(st.size - start, max));
    const data = Buffer.alloc(len);
    const n = len > 0 ? readSync(fd, data, 0, len, start) : 0;
    return { size: st.size, data: data.subarray(0, n) };
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
