import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, redactUrl, redactUrlValue } from '../../src/log/redact.ts';

test('a password in a URL is replaced, the user and host stay readable', () => {
  assert.equal(redactUrl('http://scheduler:hunter2@diego:3001/analyze'), 'http://scheduler:***@diego:3001/analyze');
  assert.equal(redactUrl('connect to postgres://pmf:s3cret@db:5432/pmf failed'), 'connect to postgres://pmf:***@db:5432/pmf failed');
  assert.equal(redactUrl('HTTPS://u:p@host'), 'HTTPS://u:***@host');
  assert.equal(redactUrl('http://:only-password@host/'), 'http://:***@host/');
});

test('every URL in a text is redacted', () => {
  assert.equal(redactUrl('http://a:one@h1 then https://b:two@h2/x'), 'http://a:***@h1 then https://b:***@h2/x');
});

test('a password holding "@" is hidden whole (the userinfo ends at the last "@")', () => {
  assert.equal(redactUrl('http://u:p@ss@diego:3001/x'), 'http://u:***@diego:3001/x');
  assert.equal(redactUrl('http://u@corp:pw@diego'), 'http://u@corp:***@diego');
});

test('inside a JSON log line the redaction stops at the closing quote', () => {
  const line = JSON.stringify({ msg: 'calling http://u:pw@diego:3001', contact: 'ops@example.com', path: '/x' });
  const out = redactUrl(line);
  assert.deepEqual(JSON.parse(out), { msg: 'calling http://u:***@diego:3001', contact: 'ops@example.com', path: '/x' });
});

test('URLs without a password, ports and "@" in paths or queries are left alone', () => {
  for (const text of [
    'http://diego:3001/analyze',
    'http://user@diego:3001/',
    'http://diego:3001/a@b',
    'http://diego:3001/?mail=a:b@c',
    'http://diego:3001#a:b@c',
    'ratio 3:2 at 10:00 by ops@example.com',
  ]) {
    assert.equal(redactUrl(text), text);
  }
});

test('a bearer token is hidden wherever it appears', () => {
  assert.equal(redactUrl('Authorization: Bearer abc.def-ghi'), 'Authorization: Bearer ***');
  assert.equal(redactUrl('{"authorization":"bearer tok123","x":1}'), '{"authorization":"bearer ***","x":1}');
});

test('createRedactor hides the known secrets everywhere, besides URL passwords', () => {
  const redact = createRedactor(['sk_live_9f8e7d', undefined, 'second-secret']);
  assert.equal(redact('token sk_live_9f8e7d, again sk_live_9f8e7d; and second-secret'), 'token ***, again ***; and ***');
  assert.equal(redact('http://u:pw@h x=sk_live_9f8e7d'), 'http://u:***@h x=***');
  assert.equal(redact('nothing to hide'), 'nothing to hide');
});

test('createRedactor ignores empty and very short secrets rather than blanking common text', () => {
  const redact = createRedactor(['', 'ab', undefined]);
  assert.equal(redact('a b ab abc'), 'a b ab abc');
});

test('redactUrlValue hides a URL value’s password whatever it holds: space, quote, #, /, ?, @, percent-escapes', () => {
  for (const password of ['pa ss', 'pa"ss', 'pa#ss', 'a/b?c', 'p@ss', 'h%23sh%40at%20x', "it's"]) {
    assert.equal(redactUrlValue(`postgres://pmf:${password}@db:5432/pmf?sslmode=require`), 'postgres://pmf:***@db:5432/pmf?sslmode=require', password);
  }
  assert.equal(redactUrlValue('postgres://db/pmf?sslmode=require&password=a b'), 'postgres://db/pmf?sslmode=require&password=***');
  for (const same of ['postgres://pmf@db/pmf', 'http://diego:3001/a@b', 'http://diego:3001/?mail=a:b@c', './data/x.db']) assert.equal(redactUrlValue(same), same);
});

test('createRedactor given the configured URLs hides their passwords in free text, however short or odd', () => {
  const redact = createRedactor([], ['postgres://pmf:a%23b c@db:5432/pmf']);
  assert.equal(redact('at postgres://pmf:a%23b c@db:5432/pmf: refused'), 'at postgres://pmf:***@db:5432/pmf: refused');
  assert.equal(redact('login pmf:a#b c@db failed'), 'login pmf:***@db failed');
});
