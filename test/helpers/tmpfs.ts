import { execFileSync } from 'node:child_process';

/** Mounts a tmpfs on `dir` (root with CAP_SYS_ADMIN only), or says why it was refused. */
export function mountTmpfs(dir: string, options: string): { unmount(): void; remount(options: string): void } | { refused: string } {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    return { refused: `mount -t tmpfs -o ${options} was refused (${String((err as { stderr?: Buffer }).stderr ?? err).trim()})` };
  }
  return {
    unmount: () => execFileSync('umount', [dir], { stdio: 'pipe' }),
    remount: (o) => execFileSync('mount', ['-o', `remount,${o}`, dir], { stdio: 'pipe' }),
  };
}
