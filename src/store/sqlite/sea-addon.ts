import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import process from 'node:process';
import { prepareDirectory } from './file-place.ts';

/** The asset name under which `scripts/build-binary.mjs` embeds better-sqlite3's native addon. */
export const ADDON_ASSET = 'better_sqlite3.node';

/**
 * Where the extracted addon may live, best first: the user's cache (`$XDG_CACHE_HOME`, or `~/.cache`; a relative
 * XDG path is ignored, as the spec says), then a per-user directory under the temp dir for when that is not writable.
 */
export function addonDirs(xdgCacheHome: string | undefined, home: string, tmp: string, uid: number | string): string[] {
  const cache = xdgCacheHome !== undefined && isAbsolute(xdgCacheHome) ? xdgCacheHome : join(home, '.cache');
  return [join(cache, 'pmf-scheduler'), join(tmp, `pmf-scheduler-${uid}`)];
}

/** A directory only we can write to, since code gets loaded from it: created 0700, refused when someone else owns it. */
function ensurePrivateDir(dir: string): void {
  // Not mkdirSync(…, { recursive }) at once: under /proc it spins forever on Node 20, deaf to SIGTERM (issue 24 item
  // 17); prepareDirectory refuses such a place first, as for DATABASE_URL.
  const place = prepareDirectory(dir, 0o700);
  if (!place.ok) throw new Error(place.reason);
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error('not a directory');
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new Error(`owned by uid ${st.uid}, not ${uid}`);
  if ((st.mode & 0o022) !== 0) throw new Error(`writable by others (mode ${(st.mode & 0o777).toString(8)})`);
}

/**
 * Writes `bytes` as `better_sqlite3-<sha256 prefix>.node` into the first usable directory of `dirs`, unless that
 * file is already there, and returns `load(file)`; a directory where writing or loading fails (a read-only home, a
 * `noexec` mount) passes to the next. Each process writes its own temp file and renames it into place, so two
 * processes starting at once both end with a whole file and a reader never sees a partial one.
 */
export function extractAddon<T>(bytes: Uint8Array, dirs: readonly string[], load: (file: string) => T): T {
  const name = `better_sqlite3-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.node`;
  const failures: string[] = [];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      ensurePrivateDir(dir);
      // The checksum is in the name and files only appear whole, so the right size means the right file.
      if (statSync(file, { throwIfNoEntry: false })?.size !== bytes.length) {
        const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
        try {
          writeFileSync(temp, bytes, { mode: 0o700, flag: 'wx' });
          renameSync(temp, file);
        } finally {
          rmSync(temp, { force: true });
        }
      }
      return load(file);
    } catch (err) {
      failures.push(`${file}: ${(err as Error).message}`);
    }
  }
  throw new Error(`Cannot extract the SQLite addon (${failures.join('; ')}): set XDG_CACHE_HOME to a directory of yours that allows executables`);
}

let embedded: object | undefined;

/**
 * Inside the single binary, better-sqlite3's addon, extracted from the binary and loaded; undefined anywhere else.
 * There `require` loads only built-ins, so the file is loaded through `createRequire(process.execPath)`.
 * `xdgCacheHome` is `$XDG_CACHE_HOME` as the configuration read it.
 */
export function embeddedAddon(xdgCacheHome: string | undefined): object | undefined {
  // getBuiltinModule, not an import: node:sea must not be imported under Deno (which lacks it), and an import() in a
  // binary's bundle fails. Deno's getBuiltinModule gives undefined for it.
  const sea = process.getBuiltinModule?.('node:sea');
  if (!sea?.isSea()) return undefined;
  // os.homedir() and os.tmpdir() follow HOME and TMPDIR: where a cache lives is the platform's convention.
  const dirs = addonDirs(xdgCacheHome, homedir(), tmpdir(), process.getuid?.() ?? 'user');
  embedded ??= extractAddon(new Uint8Array(sea.getRawAsset(ADDON_ASSET)), dirs, (file) => createRequire(process.execPath)(file) as object);
  return embedded;
}
