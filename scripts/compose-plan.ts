/**
 * The `run` options of each service of our compose files, for scripts/image-check.sh, which runs the stack with one
 * `docker run` / `podman run` per service instead of a compose tool (podman-compose 1.0 in Debian does not wait for
 * `depends_on: condition: service_healthy`, which is one of the things checked). Files are merged as compose merges
 * an override (mappings key by key, anything else replaced), `${VAR}` is substituted from the environment, and a
 * key this reader does not turn into an option throws, so a new key in a compose file can never be silently dropped.
 *
 * Usage: tsx scripts/compose-plan.ts PREFIX FILE [OVERRIDE…]
 * Prints one record a line, fields separated by U+001F: `service NAME build|IMAGE`, `arg NAME WORD` (the run
 * options, in order), `cmd NAME WORD`, `needs NAME DEP CONDITION`, `wait NAME SECONDS` (how long its health may take
 * at most, from its healthcheck timings), `volume NAME` (prefixed). Services come in dependency order.
 */
import { readFileSync } from 'node:fs';
import { parseYamlSubset, type YamlValue } from '../test/helpers/yaml-subset.ts';

type Map = { [key: string]: YamlValue };
const isMap = (v: YamlValue | undefined): v is Map => v !== null && typeof v === 'object' && !Array.isArray(v);

/** One service as the script runs it. */
export interface ServicePlan {
  name: string;
  /** `build` for `build: .`, else the image reference. */
  source: string;
  args: string[];
  command: string[];
  needs: { service: string; condition: string }[];
  /** The longest its health check may take to pass, in seconds (0: no health check). */
  waitSeconds: number;
}

const KNOWN = new Set(['build', 'image', 'command', 'restart', 'read_only', 'environment', 'volumes', 'stop_grace_period', 'depends_on', 'healthcheck']);

/** Compose's merge of an override: mappings key by key, any other value replaced. */
export function mergeCompose(base: YamlValue, override: YamlValue): YamlValue {
  if (!isMap(base) || !isMap(override)) return override;
  const out: Map = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = k in out ? mergeCompose(out[k]!, v) : v;
  return out;
}

/** `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, and `$$`, as compose does. */
export function substitute(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (all, name: string, colon: string, op: string, word: string) => {
    if (all === '$$') return '$';
    const value = env[name];
    const unset = value === undefined || (colon === ':' && value === '');
    if (!unset) return value;
    if (op === '?') throw new Error(`compose: ${name} is required: ${word}`);
    return op === '-' ? word : '';
  });
}

/** Compose durations (`15s`, `1m30s`, `500ms`) in seconds. */
export function durationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`compose: ${text} is not a duration`);
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0);
}

/** Words as one `/bin/sh -c` string: each in single quotes (docker's --health-cmd takes a shell string). */
export const shellJoin = (words: string[]) => words.map((w) => (/^[\w./:=@%+-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)).join(' ');

function healthArgs(name: string, h: Map): { args: string[]; wait: number } {
  const test = h.test;
  if (!Array.isArray(test) || (test[0] !== 'CMD' && test[0] !== 'CMD-SHELL')) throw new Error(`compose: ${name}: healthcheck.test must be a CMD or CMD-SHELL list`);
  const words = test.slice(1).map(String);
  const cmd = test[0] === 'CMD' ? shellJoin(words) : words.join(' ');
  const seconds = (key: string, fallback: number) => (h[key] === undefined ? fallback : durationSeconds(String(h[key])));
  const [interval, timeout, start] = [seconds('interval', 30), seconds('timeout', 30), seconds('start_period', 0)];
  const retries = Number(h.retries ?? 3);
  const args = ['--health-cmd', cmd, '--health-interval', `${interval}s`, '--health-timeout', `${timeout}s`, '--health-retries', String(retries), '--health-start-period', `${start}s`];
  return { args, wait: Math.ceil(start + (interval + timeout) * (retries + 1)) };
}

/** The plan of one service: its run options, command, dependencies and health wait. */
export function servicePlan(name: string, s: Map, prefix: string, env: Record<string, string | undefined>): ServicePlan {
  for (const key of Object.keys(s)) if (!KNOWN.has(key)) throw new Error(`compose: ${name}: key ${key} is not turned into a run option by scripts/compose-plan.ts`);
  const sub = (v: YamlValue | undefined) => substitute(String(v ?? ''), env);
  const plan: ServicePlan = { name, source: s.build === '.' ? 'build' : sub(s.image), args: [], command: [], needs: [], waitSeconds: 0 };
  if (s.build !== undefined && s.build !== '.') throw new Error(`compose: ${name}: only build: . is supported`);
  if (!plan.source) throw new Error(`compose: ${name}: neither build: . nor image`);
  if (s.restart !== undefined) plan.args.push('--restart', sub(s.restart));
  if (s.read_only === true) plan.args.push('--read-only');
  const environment = s.environment ?? {};
  const pairs = Array.isArray(environment) ? environment.map((e) => sub(e).split(/=(.*)/s).slice(0, 2)) : Object.entries(environment as Map).map(([k, v]) => [k, sub(v)]);
  for (const [k, v] of pairs) plan.args.push('--env', `${k}=${v ?? ''}`);
  for (const v of (s.volumes ?? []) as YamlValue[]) {
    const [volume, target, ...mode] = sub(v).split(':');
    if (!volume || !target || !/^[A-Za-z0-9][\w.-]*$/.test(volume)) throw new Error(`compose: ${name}: only named volumes are supported (${String(v)})`);
    plan.args.push('--volume', [`${prefix}-${volume}`, target, ...mode].join(':'));
  }
  if (s.stop_grace_period !== undefined) plan.args.push('--stop-timeout', String(Math.ceil(durationSeconds(sub(s.stop_grace_period)))));
  if (isMap(s.healthcheck)) {
    const h = healthArgs(name, s.healthcheck);
    plan.args.push(...h.args);
    plan.waitSeconds = h.wait;
  }
  if (s.command !== undefined) plan.command = Array.isArray(s.command) ? s.command.map(sub) : ['/bin/sh', '-c', sub(s.command)];
  const deps = s.depends_on ?? {};
  for (const [dep, how] of Array.isArray(deps) ? deps.map((d) => [String(d), {}] as const) : Object.entries(deps as Map)) {
    plan.needs.push({ service: dep, condition: isMap(how) && how.condition !== undefined ? String(how.condition) : 'service_started' });
  }
  return plan;
}

/** Every service of the merged files, each after the services it depends on. */
export function composePlan(texts: string[], prefix: string, env: Record<string, string | undefined>): { services: ServicePlan[]; volumes: string[] } {
  const merged = texts.map((t) => parseYamlSubset(t)).reduce((a, b) => mergeCompose(a, b));
  if (!isMap(merged) || !isMap(merged.services)) throw new Error('compose: no services');
  const all = Object.entries(merged.services).map(([n, s]) => {
    if (!isMap(s)) throw new Error(`compose: service ${n} is not a mapping`);
    return servicePlan(n, s, prefix, env);
  });
  const ordered: ServicePlan[] = [];
  const visit = (p: ServicePlan, path: string[]) => {
    if (ordered.includes(p)) return;
    if (path.includes(p.name)) throw new Error(`compose: a depends_on cycle: ${[...path, p.name].join(' -> ')}`);
    for (const d of p.needs) {
      const dep = all.find((q) => q.name === d.service);
      if (!dep) throw new Error(`compose: ${p.name} depends on ${d.service}, which is no service`);
      visit(dep, [...path, p.name]);
    }
    ordered.push(p);
  };
  for (const p of all) visit(p, []);
  return { services: ordered, volumes: Object.keys(isMap(merged.volumes) ? merged.volumes : {}).map((v) => `${prefix}-${v}`) };
}

/** The plan as records for the shell (see the header). */
export function formatPlan(plan: { services: ServicePlan[]; volumes: string[] }): string {
  const line = (...fields: string[]) => fields.join('\x1f');
  const out = plan.volumes.map((v) => line('volume', v));
  for (const s of plan.services) {
    out.push(line('service', s.name, s.source), line('wait', s.name, String(s.waitSeconds)));
    for (const a of s.args) out.push(line('arg', s.name, a));
    for (const c of s.command) out.push(line('cmd', s.name, c));
    for (const n of s.needs) out.push(line('needs', s.name, n.service, n.condition));
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [prefix, ...files] = process.argv.slice(2);
  if (!prefix || files.length === 0) {
    console.error('usage: compose-plan.ts PREFIX FILE [OVERRIDE…]');
    process.exit(2);
  }
  console.log(formatPlan(composePlan(files.map((f) => readFileSync(f, 'utf8')), prefix, process.env)));
}
