/**
 * A reader for our own Dockerfile, used by test/packaging/docker-files.test.ts (and test/packaging/kubernetes.test.ts)
 * to check its properties; scripts/image-check.sh builds and runs the real image. It covers the syntax the file uses
 * and refuses what it does not model (ARG, ADD, SHELL, ONBUILD, heredocs, variable substitution), so a change outside
 * that subset fails loudly instead of being misread.
 */

/** One instruction, continuation lines joined. */
export interface Instruction {
  /** Upper case: `FROM`, `RUN`, `COPY`… */
  keyword: string;
  /** Leading `--name=value` options: `COPY --from=build` gives `{ from: 'build' }`. */
  flags: Record<string, string>;
  /** The rest of the instruction. */
  args: string;
  /** 1-based line where it starts. */
  line: number;
}

/** A build stage: its `FROM` and the instructions up to the next `FROM`. */
export interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

const UNSUPPORTED = new Set(['ADD', 'ARG', 'SHELL', 'ONBUILD']);

/** Splits a Dockerfile into stages. Throws, naming the line, on what this reader does not model. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (/^\s*(#|$)/.test(first)) continue; // comments (parser directives included) and blank lines
    const line = i + 1;
    let joined = first;
    // A trailing backslash continues the instruction; comment and blank lines inside it are dropped, as Docker does.
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, '');
      i++;
      if (!/^\s*(#|$)/.test(lines[i]!)) joined += lines[i]!;
      else if (i + 1 < lines.length) joined += '\\';
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(joined);
    if (!m) throw new Error(`Dockerfile line ${line}: cannot read ${JSON.stringify(first)}`);
    const keyword = m[1]!.toUpperCase();
    let rest = m[2]!.trim();
    if (UNSUPPORTED.has(keyword)) throw new Error(`Dockerfile line ${line}: ${keyword} is not supported by this reader`);
    if (/<<\s*-?\s*["']?[A-Za-z_]/.test(rest)) throw new Error(`Dockerfile line ${line}: heredocs are not supported by this reader`);
    if (keyword !== 'RUN' && keyword !== 'HEALTHCHECK' && /\$\{?[A-Za-z_]/.test(rest)) {
      throw new Error(`Dockerfile line ${line}: variable substitution is not supported by this reader`);
    }
    const flags: Record<string, string> = {};
    for (let f = /^--([a-z-]+)=(\S+)\s*/.exec(rest); f; f = /^--([a-z-]+)=(\S+)\s*/.exec(rest)) {
      flags[f[1]!] = f[2]!;
      rest = rest.slice(f[0].length);
    }
    const instruction: Instruction = { keyword, flags, args: rest, line };
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!from) throw new Error(`Dockerfile line ${line}: cannot read FROM ${rest}`);
      stages.push({ name: from[2] ?? String(stages.length), image: from[1]!, instructions: [] });
    } else if (stages.length === 0) {
      throw new Error(`Dockerfile line ${line}: ${keyword} before the first FROM`);
    } else {
      stages[stages.length - 1]!.instructions.push(instruction);
    }
  }
  if (stages.length === 0) throw new Error('Dockerfile has no FROM');
  return stages;
}

/** The exec (JSON array) form of RUN, CMD, ENTRYPOINT, VOLUME or HEALTHCHECK CMD; `undefined` for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.trim().startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === 'string')) throw new Error(`Not an array of strings: ${args}`);
  return parsed as string[];
}

/** Splits shell-style words: double quotes (with `\"` and `\\`), single quotes, and backslash escapes. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`Unclosed ' in ${text}`);
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word ??= '';
      for (i++; text[i] !== '"'; i++) {
        if (i >= text.length) throw new Error(`Unclosed " in ${text}`);
        if (text[i] === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) i++;
        word += text[i];
      }
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The variables of one `ENV` instruction (`K=V K2="v 2"`, or the legacy `ENV K value`). */
export function envOf(args: string): Record<string, string> {
  const words = shellWords(args);
  if (words.length > 0 && !words[0]!.includes('=')) {
    const [key, ...value] = args.trim().split(/\s+/);
    return { [key!]: value.join(' ') };
  }
  const out: Record<string, string> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new Error(`ENV entry ${JSON.stringify(w)} is not KEY=VALUE`);
    out[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return out;
}

/** The `HEALTHCHECK` of a stage: its options and command (`undefined` for `NONE` or none). */
export function healthcheckOf(i: Instruction): { options: Record<string, string>; command: string[] } | undefined {
  if (/^NONE$/i.test(i.args)) return undefined;
  const m = /^CMD\s+(.*)$/i.exec(i.args);
  if (!m) throw new Error(`Dockerfile line ${i.line}: HEALTHCHECK without CMD`);
  return { options: i.flags, command: execForm(m[1]!) ?? ['/bin/sh', '-c', m[1]!] };
}

/** One step of a stage, paths as they are inside the image. */
export type StageStep = { kind: 'copy'; from: string | undefined; source: string; dest: string } | { kind: 'run'; cwd: string; command: string };

/** What one stage does, and the image settings it leaves behind. */
export interface StagePlan {
  name: string;
  steps: StageStep[];
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  volumes: string[];
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[] | undefined;
}

const joinPath = (dir: string, path: string): string =>
  path.startsWith('/') ? path : `${dir.replace(/\/+$/, '')}/${path.replace(/^\.\/?/, '')}`;

/**
 * Each stage as steps: COPY as copies (a relative destination joined to WORKDIR), RUN as commands run in WORKDIR,
 * and the final settings of ENV, USER, VOLUME, ENTRYPOINT, CMD and HEALTHCHECK.
 */
export function stagePlan(stages: Stage[]): StagePlan[] {
  const names = new Set<string>();
  return stages.map((stage) => {
    const out: StagePlan = { name: stage.name, steps: [], workdir: '/', env: {}, user: undefined, volumes: [], entrypoint: [], cmd: [], healthcheck: undefined };
    for (const i of stage.instructions) {
      switch (i.keyword) {
        case 'WORKDIR':
          out.workdir = joinPath(out.workdir, i.args);
          break;
        case 'COPY': {
          const words = execForm(i.args) ?? shellWords(i.args);
          const dest = words.pop();
          if (dest === undefined || words.length === 0) throw new Error(`Dockerfile line ${i.line}: COPY needs a source and a destination`);
          if (i.flags.from !== undefined && !names.has(i.flags.from)) throw new Error(`Dockerfile line ${i.line}: COPY --from=${i.flags.from} names no earlier stage`);
          // Several sources go into a directory; a destination ending in / is one too.
          const destPath = joinPath(out.workdir, dest) + (words.length > 1 && !dest.endsWith('/') ? '/' : '');
          for (const source of words) out.steps.push({ kind: 'copy', from: i.flags.from, source: i.flags.from ? joinPath('/', source) : source, dest: destPath });
          break;
        }
        case 'RUN': {
          const command = execForm(i.args)?.join(' ') ?? i.args;
          out.steps.push({ kind: 'run', cwd: out.workdir, command });
          break;
        }
        case 'ENV':
          Object.assign(out.env, envOf(i.args));
          break;
        case 'USER':
          out.user = i.args;
          break;
        case 'VOLUME':
          out.volumes.push(...(execForm(i.args) ?? i.args.split(/\s+/)));
          break;
        case 'ENTRYPOINT':
          out.entrypoint = execForm(i.args) ?? ['/bin/sh', '-c', i.args];
          break;
        case 'CMD':
          out.cmd = execForm(i.args) ?? ['/bin/sh', '-c', i.args];
          break;
        case 'HEALTHCHECK':
          out.healthcheck = healthcheckOf(i)?.command;
          break;
        default:
          break; // LABEL, STOPSIGNAL, EXPOSE…: not modelled
      }
    }
    names.add(stage.name);
    return out;
  });
}
