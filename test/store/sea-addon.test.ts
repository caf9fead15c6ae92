import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addonDirs, embeddedAddon, extractAddon } from '../../src/store/sqlite/sea-addon.ts';
import { tempDir } from '../helpers/temp-db.ts';

const bytes = new TextEncoder().encode('pretend this is an ELF shared object');
const name = `better_sqlite3-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.node`;
const read = (file: string) => readFileSync(file, 'utf8');

test('addonDirs: $XDG_CACHE_HOME when absolute, else ~/.cache; then a per-user dir under the temp dir', () => {
  assert.deepEqual(addonDirs('/var/cache/me', '/home/me', '/tmp', 1000), ['/var/cache/me/pmf-scheduler', '/tmp/pmf-scheduler-1000']);
  assert.deepEqual(addonDirs(undefined, '/home/me', '/tmp', 1000), ['/home/me/.cache/pmf-scheduler', '/tmp/pmf-scheduler-1000']);
  assert.deepEqual(addonDirs('relative/cache', '/home/me', '/tmp', 0), ['/home/me/.cache/pmf-scheduler', '/tmp/pmf-scheduler-0']);
});

test('extractAddon writes the bytes once, under their checksum, into a 0700 directory, and loads that file', () => {
  const t = tempDir();
  try {
    const dir = join(t.dir, 'cache', 'pmf-scheduler');
    const file = extractAddon(bytes, [dir], (f) => f);
    assert.equal(file, join(dir, name));
    assert.equal(read(file), 'pretend this is an ELF shared object');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(dir), [name], 'no temp file is left behind');

    const before = statSync(file);
    assert.equal(extractAddon(bytes, [dir], read), 'pretend this is an ELF shared object');
    const after = statSync(file);
    assert.equal(after.ino, before.ino, 'an existing whole copy is reused, not rewritten');
  } finally {
    t.cleanup();
  }
});

test('extractAddon replaces a partial copy and leaves other versions alone', () => {
  const t = tempDir();
  try {
    mkdirSync(join(t.dir, 'c'), { mode: 0o700 });
    writeFileSync(join(t.dir, 'c', name), 'pretend');
    writeFileSync(join(t.dir, 'c', 'better_sqlite3-0000000000000000.node'), 'older version');
    assert.equal(extractAddon(bytes, [join(t.dir, 'c')], read), 'pretend this is an ELF shared object');
    assert.deepEqual(readdirSync(join(t.dir, 'c')).sort(), ['better_sqlite3-0000000000000000.node', name].sort());
  } finally {
    t.cleanup();
  }
});

test('extractAddon falls back to the next directory when one cannot be created, is shared, or cannot load', () => {
  const t = tempDir();
  try {
    writeFileSync(join(t.dir, 'a-file'), '');
    const uncreatable = join(t.dir, 'a-file', 'pmf-scheduler');
    const shared = join(t.dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const noexec = join(t.dir, 'noexec');
    const good = join(t.dir, 'good');
    const loaded = extractAddon(bytes, [uncreatable, shared, noexec, good], (f) => {
      if (f.startsWith(noexec)) throw new Error('failed to map segment from shared object');
      return f;
    });
    assert.equal(loaded, join(good, name));
    assert.deepEqual(readdirSync(shared), [], 'nothing is written into a directory others can write');
  } finally {
    t.cleanup();
  }
});

test('extractAddon names every directory it tried when none works', () => {
  const t = tempDir();
  try {
    writeFileSync(join(t.dir, 'f'), '');
    assert.throws(
      () => extractAddon(bytes, [join(t.dir, 'f', 'x'), join(t.dir, 'f', 'y')], (f) => f),
      (err: Error) => err.message.startsWith('Cannot extract the SQLite addon') && err.message.includes(join(t.dir, 'f', 'x')) && err.message.includes(join(t.dir, 'f', 'y')),
    );
  } finally {
    t.cleanup();
  }
});

test('outside a single binary there is no embedded addon', () => {
  assert.equal(embeddedAddon(undefined), undefined);
});
