/**
 * V8 settings `oo-ml serve` applies to its own process, for a server that idles between bursts,
 * and the ones Node takes only at start, which `oo-ml serve` restarts itself with on one core
 * (V8's collector threads: `oneCoreNodeFlags`, serve-restart.ts).
 *
 * Why: after an idle spell, a load ran with an old-generation collection every second or two
 * (V8 keeps the old generation's growing factor near its minimum after little allocation), and
 * functions idle long enough had lost their compiled code and recompiled under load on the same
 * core; its tail latency was several times a fresh process's. With the old generation allowed
 * to double before it is collected and compiled code kept, the same load after idling ran close
 * to a fresh process, at about the same RSS (BENCHMARKS.md, "after idling"). The cost: up to
 * twice the live old generation between collections, and the compiled code of functions that
 * stopped running stays.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { posix } from 'node:path';
import v8 from 'node:v8';

/** The flags, in V8's syntax. */
export const SERVE_V8_FLAGS = ['--heap-growing-percent=100', '--no-flush-bytecode', '--no-flush-baseline-code'] as const;

/** Applies SERVE_V8_FLAGS to this process (V8 reads them at each collection, so setting them at start-up suffices). */
export function applyServeV8Settings(): void {
  for (const flag of SERVE_V8_FLAGS) v8.setFlagsFromString(flag);
}

/** Node and V8 options that keep a major collection's marking and sweeping off the only core's other threads. */
const ONE_CORE_OPTIONS = ['--v8-pool-size', '--single-threaded-gc', '--single-threaded'];

/**
 * What `oo-ml serve` starts itself with on one core (serve-restart.ts): one V8 helper thread
 * instead of four. Saturated, it removed most of the long stalls, with paced tails unchanged;
 * `--single-threaded-gc` paused longer below saturation, where the one helper marks in the
 * core's idle time (BENCHMARKS.md, "One core").
 */
export const ONE_CORE_NODE_FLAGS = ['--v8-pool-size=1'] as const;

/**
 * The Node flags a server with `cores` of CPU should restart with, or [] (two cores or more, or
 * one of ONE_CORE_OPTIONS already in `options`: the process's command-line options and
 * NODE_OPTIONS' words; Node and V8 take `_` for `-` in option names, and an operator who set
 * the pool size chose it). On one core, V8's four collector threads each get as much of it as
 * the event loop while a major collection marks and sweeps, and answers wait; Node
 * takes these options only at start (BENCHMARKS.md, "V8's collector threads"). Below two cores,
 * a CPU quota of 1.5 included: the helpers can then never all run beside the loop.
 */
export function oneCoreNodeFlags(cores: number, options: readonly string[]): readonly string[] {
  const given = options.some((o) => ONE_CORE_OPTIONS.includes(o.split('=')[0]!.replaceAll('_', '-')));
  return cores >= 2 || given ? [] : ONE_CORE_NODE_FLAGS;
}

/** Reads a small text file, or null when it is not there (a seam for tests). */
export type TextReader = (path: string) => string | null;

const readText: TextReader = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** CPUs a cgroup v2 `cpu.max` ("<quota> <period>", or "max <period>") allows, or null for no limit or an unreadable line. */
export function cpuMaxCores(text: string): number | null {
  const m = /^(\d+|max)\s+(\d+)\s*$/.exec(text.trim());
  if (m === null || m[1] === 'max') return null;
  const quota = Number(m[1]);
  const period = Number(m[2]);
  return quota > 0 && period > 0 ? quota / period : null;
}

/**
 * CPUs this process's cgroups allow, the tightest limit found, or null without one: cgroup v2's
 * `cpu.max` (cgroupV2CpuLimit) and, on a host still on cgroup v1 or a hybrid of both, the v1 cpu
 * controller's CFS quota (cgroupV1CpuLimit). A container limited to one CPU sees every core of
 * its host in its affinity, and its collector threads spend the quota the event loop needs.
 */
export function cgroupCpuLimit(read: TextReader = readText, root = '/sys/fs/cgroup'): number | null {
  const lines = read('/proc/self/cgroup')?.split('\n') ?? [];
  const v2 = cgroupV2CpuLimit(lines, read, root);
  const v1 = cgroupV1CpuLimit(lines, read);
  return v2 === null ? v1 : v1 === null ? v2 : Math.min(v1, v2);
}

/** The tightest `cpu.max` of this process's cgroup v2 (`cgroupLines`: /proc/self/cgroup's) and its ancestors under `root`, or null. */
function cgroupV2CpuLimit(cgroupLines: string[], read: TextReader, root: string): number | null {
  // "0::/a/b" is the unified hierarchy's line of /proc/self/cgroup.
  const line = cgroupLines.find((l) => l.startsWith('0::'));
  if (line === undefined) return null;
  return tightestUp(line.slice(3), (dir) => {
    const text = read(posix.join(root, ...dir, 'cpu.max'));
    return text === null ? null : cpuMaxCores(text);
  });
}

/** CPUs a cgroup v1 CFS quota allows (`cpu.cfs_quota_us` over `cpu.cfs_period_us`), or null for no limit (-1) or unreadable text. */
export function cfsQuotaCores(quota: string, period: string): number | null {
  const q = /^-?\d+$/.test(quota.trim()) ? Number(quota.trim()) : Number.NaN;
  const p = /^\d+$/.test(period.trim()) ? Number(period.trim()) : Number.NaN;
  return q > 0 && p > 0 ? q / p : null;
}

/** A path field of /proc/self/mountinfo, its octal escapes (`\040` for a space) decoded. */
function mountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * The tightest CFS quota of this process's cgroup v1 cpu controller and its ancestors, or null.
 * Its hierarchy's line of /proc/self/cgroup ("4:cpu,cpuacct:/docker/abc") gives the cgroup's
 * path; /proc/self/mountinfo gives where that hierarchy is mounted (type `cgroup`, `cpu` among
 * its super options) and from which of its cgroups: a container commonly sees its own cgroup
 * mounted at the mount point (root `/docker/abc`), a host the whole hierarchy (root `/`).
 * As Go's automaxprocs and the JVM's container support read it.
 */
function cgroupV1CpuLimit(cgroupLines: string[], read: TextReader): number | null {
  const line = cgroupLines.find((l) => (l.split(':')[1] ?? '').split(',').includes('cpu'));
  if (line === undefined) return null;
  const path = line.split(':').slice(2).join(':').trim();
  for (const mount of (read('/proc/self/mountinfo') ?? '').split('\n')) {
    // "<id> <parent> <dev> <root> <mount point> <options> [optional fields…] - <type> <source> <super options>"
    const fields = mount.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 5 || fields[dash + 1] !== 'cgroup' || !(fields[dash + 3] ?? '').split(',').includes('cpu')) continue;
    const root = mountPath(fields[3]!);
    const at = mountPath(fields[4]!);
    const below = root === '/' ? path : path === root ? '/' : path.startsWith(`${root}/`) ? path.slice(root.length) : null;
    // The process's cgroup is not under this mount's root: nothing mounted here is its own.
    if (below === null) continue;
    return tightestUp(below, (dir) => {
      const quota = read(posix.join(at, ...dir, 'cpu.cfs_quota_us'));
      const period = read(posix.join(at, ...dir, 'cpu.cfs_period_us'));
      return quota === null || period === null ? null : cfsQuotaCores(quota, period);
    });
  }
  return null;
}

/** The smallest `limitOf` over the cgroup at `path` (below a mount's root) and its ancestors up to that root, or null. */
function tightestUp(path: string, limitOf: (dir: string[]) => number | null): number | null {
  const parts = path.trim().split('/').filter((p) => p !== '' && p !== '.');
  // Outside its cgroup namespace's root the path climbs ("/../x"): no file here is its own.
  if (parts.includes('..')) return null;
  let limit: number | null = null;
  for (let depth = parts.length; depth >= 0; depth--) {
    const cores = limitOf(parts.slice(0, depth));
    if (cores !== null && (limit === null || cores < limit)) limit = cores;
  }
  return limit;
}

/** CPU this process may use now: the cores of its affinity, or its cgroup's quota when that is less. */
export function coresHere(read: TextReader = readText): number {
  const limit = cgroupCpuLimit(read);
  const cores = availableParallelism();
  return limit === null ? cores : Math.min(cores, limit);
}

/** `oneCoreNodeFlags` for this process: its cores now, its command-line options and `nodeOptions` (NODE_OPTIONS). */
export function oneCoreNodeFlagsHere(nodeOptions: string | undefined): readonly string[] {
  return oneCoreNodeFlags(coresHere(), [...process.execArgv, ...(nodeOptions ?? '').split(/\s+/)]);
}
