/**
 * `oo-ml serve` started again with Node flags that Node takes only at start (on one core:
 * v8-settings.ts `oneCoreNodeFlags`), with the same arguments, environment and stdio.
 *
 * Where Node can replace its own process image (`process.execve`, Node ≥ 22.15 and 23.11) it
 * does: the same pid, nothing between the server and whatever supervises it. Elsewhere (Node 20)
 * the server runs as a child and this process stands in for it: it passes SIGINT, SIGTERM and
 * SIGHUP on, and ends as the child ended (its exit code, or death by its signal). The child
 * watches the IPC channel to this process: if this one is killed outright (SIGKILL, an OOM
 * kill), the child shuts down as on SIGTERM instead of staying on the port without its parent.
 * The price of the stand-in: one idle Node process (~50 MB RSS) beside the server.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** Set in the child's environment to its parent's pid: the child then stops when that parent is gone. */
export const RESTART_PARENT_ENV = 'OO_ML_SERVE_PARENT';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/** Node's `process.execve` where this Node has it (≥ 22.15 and 23.11), else null. */
function execveOf(): Execve | null {
  const f = (process as unknown as { execve?: unknown }).execve;
  return typeof f === 'function' ? (f.bind(process) as Execve) : null;
}

/** Whether this Node replaces its process on restart (no stand-in parent). */
export function restartReplacesProcess(): boolean {
  return execveOf() !== null;
}

/**
 * Starts this command again under `flags` and never returns: replaces the process where Node can,
 * else runs it as a child (`onChild` gets its pid) and exits as it exits.
 */
export function restartWith(flags: readonly string[], onChild: (pid: number) => void): Promise<never> {
  const args = [...flags, ...process.execArgv, ...process.argv.slice(1)];
  const execve = execveOf();
  if (execve !== null) execve(process.execPath, [process.execPath, ...args], process.env);

  const child = spawn(process.execPath, args, {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [RESTART_PARENT_ENV]: String(process.pid) },
  });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  for (const s of FORWARDED) process.on(s, forward);
  return new Promise<never>((_, reject) => {
    child.once('error', (e) => {
      for (const s of FORWARDED) process.off(s, forward);
      reject(e);
    });
    child.once('spawn', () => onChild(child.pid!));
    child.once('exit', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      if (signal !== null) {
        // Die of the same signal, so whatever waits on this pid sees what happened to the server.
        process.kill(process.pid, signal);
        process.exit(128 + (constants.signals[signal] ?? 0));
      }
      process.exit(code ?? 1);
    });
  });
}

/**
 * In a server started by `restartWith` as a child: stop as on SIGTERM when the parent is gone
 * (its IPC channel closes), and let that channel not keep this process alive. Elsewhere a no-op.
 */
export function followRestartParent(): void {
  if (process.env[RESTART_PARENT_ENV] !== String(process.ppid) || process.channel === undefined) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
