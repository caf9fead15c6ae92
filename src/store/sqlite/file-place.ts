import { accessSync, closeSync, existsSync, constants, fchmodSync, mkdirSync, openSync, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** The history is trading data: owner read-write, group read, nothing for others, whatever the umask. */
export const DATABASE_FILE_MODE = 0o640;
/** A directory the agent creates for it: owner all, group in, others out. */
export const DATABASE_DIR_MODE = 0o750;

// statfs magic numbers (linux/magic.h) of kernel filesystems that hold no files of ours: creating a directory under
// /proc with `mkdirSync(…, { recursive: true })` spins forever on Node 20, deaf to SIGTERM (issue 11 item 3).
const KERNEL_FILESYSTEMS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x73636673: 'securityfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x1cd1: 'devpts',
};

/** What is found at the nearest existing ancestor of a directory to create (the directory itself when it exists). */
export interface Ancestor {
  path: string;
  isDirectory: boolean;
  /** The kernel filesystem it is on (`proc`, `sysfs`, …), if any. */
  kernelFs?: string;
  writable: boolean;
  /** Why it is not writable: `EROFS` (a read-only file system) or a permission code. */
  refusal?: string;
  /** Who we are, for the message (uid). */
  uid?: number;
}

/** Why a directory takes no new file, in words: a read-only file system, or this user's permissions. */
export function notWritable(dir: string, code: string | undefined, uid: number | undefined): string {
  return code === 'EROFS'
    ? `the file system of ${dir} is read-only (SQLite keeps the database and its -wal and -shm files there)`
    : `permission denied: this user (uid ${uid ?? '?'}) cannot create files in ${dir} (SQLite keeps the database and its -wal and -shm files there)`;
}

/** Why a database cannot be created in `dir`, given what its nearest existing ancestor is; undefined: it can. Pure. */
export function placeProblem(dir: string, found: Ancestor): string | undefined {
  if (found.kernelFs) return `${found.path} is on the kernel's ${found.kernelFs} filesystem, which holds no files`;
  if (!found.isDirectory) return `${found.path} is not a directory`;
  if (!found.writable) return found.path === dir ? notWritable(dir, found.refusal, found.uid) : `${dir} cannot be created: ${notWritable(found.path, found.refusal, found.uid)}`;
  return undefined;
}

/** Looks at the nearest existing ancestor of `dir` (stat, statfs, access: nothing that can spin). */
function nearestAncestor(dir: string): Ancestor {
  for (let path = dir; ; path = dirname(path)) {
    let stat;
    try {
      stat = statSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a file stands somewhere above; keep climbing to find and name it.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(path) !== path) continue;
      throw err;
    }
    let kernelFs: string | undefined;
    try {
      kernelFs = KERNEL_FILESYSTEMS[statfsSync(path).type];
    } catch {
      // statfs is not everywhere (some sandboxes): the other checks still hold
    }
    let refusal: string | undefined;
    try {
      accessSync(path, constants.W_OK);
    } catch (err) {
      refusal = String((err as NodeJS.ErrnoException).code ?? 'EACCES');
    }
    return { path, isDirectory: stat.isDirectory(), kernelFs, writable: refusal === undefined, refusal, uid: process.getuid?.() };
  }
}

/**
 * Makes ready the place of a SQLite file a writer opens: refuses a directory that cannot hold it (reason as a
 * value), creates a missing directory 0750, and creates a missing database file 0640. SQLite gives its -wal and -shm
 * files the database file's mode, so they are not world-readable either. An existing file keeps its mode.
 */
export function prepareDatabaseFile(path: string): { ok: true } | { ok: false; reason: string } {
  // An existing file (or directory) is SQLite's to judge, with its own reasons (open.ts).
  if (existsSync(path)) return { ok: true };
  const dir = dirname(path);
  const place = prepareDirectory(dir);
  if (!place.ok) return place;
  try {
    const fd = openSync(path, 'wx', DATABASE_FILE_MODE);
    try {
      fchmodSync(fd, DATABASE_FILE_MODE); // the umask may have taken bits away; the mode is ours to decide
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    // EEXIST: the file was there, or another process created it a moment ago; SQLite opens it as it is.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return { ok: true };
    // A runtime whose access() does not see a read-only mount (Deno) meets it here.
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return { ok: false, reason: notWritable(dir, code, process.getuid?.()) };
    return { ok: false, reason: (err as Error).message };
  }
  return { ok: true };
}

/**
 * Makes ready a directory that is to hold a file of ours (the database, its recreation, a cache): refuses, as a
 * value, one that cannot exist (under /proc, below a file, not writable) before calling `mkdirSync(…, { recursive })`,
 * which spins forever under /proc on Node 20; creates it 0750 when missing.
 */
export function prepareDirectory(dir: string, mode = DATABASE_DIR_MODE): { ok: true } | { ok: false; reason: string } {
  let problem: string | undefined;
  try {
    problem = placeProblem(dir, nearestAncestor(dir));
  } catch (err) {
    problem = (err as Error).message;
  }
  if (problem !== undefined) return { ok: false, reason: problem };
  try {
    mkdirSync(dir, { recursive: true, mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return { ok: false, reason: notWritable(dir, code, process.getuid?.()) };
    return { ok: false, reason: (err as Error).message };
  }
  return { ok: true };
}
