import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PG_HOST, PG_PORT, pgTest } from '../helpers/backends.ts';
import { runCli } from '../helpers/cli-process.ts';

// A PostgreSQL server that answers but refuses the login or has no such database, at start (issue 24 item 16): a
// configuration error, one line and exit 2, never "Cannot reach PostgreSQL" retried forever. The real CLI; the
// environment names no USER, as in a container.

const server = `${PG_HOST}:${PG_PORT}`;
const cases = [
  { what: 'a role that does not exist', url: `postgres://pmf_no_such_role_24@${server}/test`, says: /the server refused the login \(28000: role "pmf_no_such_role_24" does not exist\): check the user and password in the URL/ },
  { what: 'a URL without a user', url: `postgres://${server}/test`, says: /the URL names no user: write it as postgres:\/\/USER@HOST:PORT\/DATABASE/ },
  { what: 'a database that does not exist', url: `postgres://postgres@${server}/pmf_no_such_db_24`, says: /the database does not exist on the server \(3D000: database "pmf_no_such_db_24" does not exist\)/ },
];

for (const c of cases) {
  test(`PostgreSQL at start, ${c.what}: one line naming DATABASE_URL, exit 2, no retry`, pgTest(), async () => {
    const r = await runCli(['run'], { DIEGO_URL: 'http://127.0.0.1:9', DATABASE_URL: c.url }, 15_000);
    assert.equal(r.code, 2, `${r.out}\n${r.err}`);
    const lines = r.err.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0]!, /DATABASE_URL="postgres:\/\//);
    assert.match(lines[0]!, c.says);
    assert.doesNotMatch(r.err, /Cannot reach PostgreSQL|retrying/);
  });
}
