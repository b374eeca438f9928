import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cfsQuotaCores, cgroupCpuLimit, cpuMaxCores, oneCoreNodeFlags, type TextReader } from '../../src/server/v8-settings.js';

describe('the flags a server on one core restarts with', () => {
  it('asks for one V8 helper thread below two cores', () => {
    expect(oneCoreNodeFlags(1, ['--enable-source-maps', ''])).toEqual(['--v8-pool-size=1']);
    // A CPU quota of one and a half cores: the helpers still cannot run beside the loop.
    expect(oneCoreNodeFlags(1.5, [])).toEqual(['--v8-pool-size=1']);
  });

  it('asks for nothing with two cores or more, or with the pool size or single-threaded collection given', () => {
    expect(oneCoreNodeFlags(2, [])).toEqual([]);
    expect(oneCoreNodeFlags(1, ['--v8-pool-size=1'])).toEqual([]);
    expect(oneCoreNodeFlags(1, ['--max-old-space-size=512', '--v8-pool-size=4'])).toEqual([]);
    expect(oneCoreNodeFlags(1, ['--single-threaded-gc'])).toEqual([]);
    expect(oneCoreNodeFlags(1, ['--single-threaded'])).toEqual([]);
    // Node and V8 read `_` as `-` in option names.
    expect(oneCoreNodeFlags(1, ['--v8_pool_size=1'])).toEqual([]);
  });

  it('does not take an option that only starts like one', () => {
    expect(oneCoreNodeFlags(1, ['--v8-pool-sizes=1'])).toEqual(['--v8-pool-size=1']);
  });
});

describe("a cgroup's CPU limit", () => {
  it('reads cpu.max as quota over period, and no limit from "max" or a malformed line', () => {
    expect(cpuMaxCores('100000 100000\n')).toBe(1);
    expect(cpuMaxCores('150000 100000')).toBe(1.5);
    expect(cpuMaxCores('max 100000\n')).toBeNull();
    for (const bad of ['', '100000', 'abc 100000', '-5 100000', '0 100000', '100000 0', '1 2 3']) expect(cpuMaxCores(bad)).toBeNull();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 1_000_000 }), (quota, period) => {
        expect(cpuMaxCores(`${quota} ${period}\n`)).toBeCloseTo(quota / period, 12);
      }),
    );
  });

  /** A reader over an in-memory tree: the process in `/kubepods/pod1/c1`, limits where given. */
  const tree = (cgroupLine: string, limits: Record<string, string>): TextReader => {
    const files = new Map<string, string>([['/proc/self/cgroup', cgroupLine], ...Object.entries(limits)]);
    return (path) => files.get(path) ?? null;
  };

  it('takes the tightest limit of the cgroup and its ancestors', () => {
    const read = tree('0::/kubepods/pod1/c1\n', {
      '/sys/fs/cgroup/kubepods/cpu.max': 'max 100000',
      '/sys/fs/cgroup/kubepods/pod1/cpu.max': '50000 100000',
      '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': '200000 100000',
    });
    expect(cgroupCpuLimit(read)).toBe(0.5);
    // A container in its own cgroup namespace sees itself at the root.
    expect(cgroupCpuLimit(tree('0::/\n', { '/sys/fs/cgroup/cpu.max': '100000 100000' }))).toBe(1);
  });

  it('has no limit without a cgroup line, without cpu.max files, or with only "max"', () => {
    expect(cgroupCpuLimit(tree('12:cpu,cpuacct:/user.slice\n', { '/sys/fs/cgroup/cpu.max': '100000 100000' }))).toBeNull();
    expect(cgroupCpuLimit(tree('0::/a/b\n', {}))).toBeNull();
    expect(cgroupCpuLimit(tree('0::/a\n', { '/sys/fs/cgroup/a/cpu.max': 'max 100000' }))).toBeNull();
    expect(cgroupCpuLimit(() => null)).toBeNull();
  });

  it('reads no limit for a cgroup outside its namespace root, and nothing outside the cgroup root', () => {
    const asked: string[] = [];
    const limit = cgroupCpuLimit((path) => {
      asked.push(path);
      return path === '/proc/self/cgroup' ? '0::/../../etc/./x\n' : '100000 100000';
    });
    expect(limit).toBeNull();
    expect(asked).toEqual(['/proc/self/cgroup']);
  });

  it('reads a v1 CFS quota as quota over period, and no limit from -1 or malformed text', () => {
    expect(cfsQuotaCores('50000\n', '100000\n')).toBe(0.5);
    expect(cfsQuotaCores('-1\n', '100000\n')).toBeNull();
    for (const [q, p] of [['', '100000'], ['abc', '100000'], ['0', '100000'], ['50000', '0'], ['50000', '-100000'], ['5e4', '100000'], ['1 2', '100000']]) expect(cfsQuotaCores(q!, p!)).toBeNull();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 1_000_000 }), (quota, period) => {
        expect(cfsQuotaCores(`${quota}\n`, `${period}\n`)).toBeCloseTo(quota / period, 12);
      }),
    );
  });

  /** A mountinfo line of a cgroup v1 hierarchy: `root` of it mounted at `at`, with `controllers`. */
  const v1Mount = (root: string, at: string, controllers = 'cpu,cpuacct'): string =>
    `35 25 0:30 ${root} ${at} rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,${controllers}`;
  const otherMounts = ['22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw', '30 25 0:26 / /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory'];

  it('reads cgroup v1: a container that sees its own cgroup mounted at the mount point', () => {
    const read = tree('12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n', {
      '/proc/self/mountinfo': [...otherMounts, v1Mount('/docker/abc', '/sys/fs/cgroup/cpu,cpuacct')].join('\n'),
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '150000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    expect(cgroupCpuLimit(read)).toBe(1.5);
  });

  it('reads cgroup v1 on a host: the tightest quota of the cgroup and its ancestors, under a mount point with a space', () => {
    const at = '/sys/fs/cgroup/cpu and acct';
    const read = tree('4:cpu,cpuacct:/kubepods/pod1/c1\n', {
      '/proc/self/mountinfo': [...otherMounts, v1Mount('/', at.replaceAll(' ', '\\040'))].join('\n'),
      [`${at}/cpu.cfs_quota_us`]: '-1',
      [`${at}/cpu.cfs_period_us`]: '100000',
      [`${at}/kubepods/pod1/cpu.cfs_quota_us`]: '25000',
      [`${at}/kubepods/pod1/cpu.cfs_period_us`]: '100000',
      [`${at}/kubepods/pod1/c1/cpu.cfs_quota_us`]: '200000',
      [`${at}/kubepods/pod1/c1/cpu.cfs_period_us`]: '100000',
    });
    expect(cgroupCpuLimit(read)).toBe(0.25);
  });

  it('takes the tighter of v1 and v2 on a hybrid host', () => {
    const files = {
      '/proc/self/mountinfo': v1Mount('/', '/sys/fs/cgroup/cpu'),
      '/sys/fs/cgroup/cpu/a/cpu.cfs_quota_us': '300000',
      '/sys/fs/cgroup/cpu/a/cpu.cfs_period_us': '100000',
      '/sys/fs/cgroup/a/cpu.max': '200000 100000',
    };
    expect(cgroupCpuLimit(tree('4:cpu:/a\n0::/a\n', files))).toBe(2);
    expect(cgroupCpuLimit(tree('4:cpu:/a\n0::/a\n', { ...files, '/sys/fs/cgroup/cpu/a/cpu.cfs_quota_us': '50000' }))).toBe(0.5);
  });

  it('has no v1 limit without the cpu controller, its mount, or a cgroup under the mount\'s root', () => {
    const quota = { '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '50000', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' };
    // cpuacct alone is not the cpu controller, in the cgroup line or in the mount's options.
    expect(cgroupCpuLimit(tree('4:cpuacct:/\n', { '/proc/self/mountinfo': v1Mount('/', '/sys/fs/cgroup/cpu'), ...quota }))).toBeNull();
    expect(cgroupCpuLimit(tree('4:cpu:/\n', { '/proc/self/mountinfo': v1Mount('/', '/sys/fs/cgroup/cpu', 'cpuacct'), ...quota }))).toBeNull();
    expect(cgroupCpuLimit(tree('4:cpu:/\n', quota))).toBeNull();
    // Mounted from another container's cgroup, or from one that only shares a prefix with its own.
    expect(cgroupCpuLimit(tree('4:cpu:/docker/abc\n', { '/proc/self/mountinfo': v1Mount('/docker/xyz', '/sys/fs/cgroup/cpu'), ...quota }))).toBeNull();
    expect(cgroupCpuLimit(tree('4:cpu:/docker/abcd\n', { '/proc/self/mountinfo': v1Mount('/docker/abc', '/sys/fs/cgroup/cpu'), ...quota }))).toBeNull();
    // Outside its namespace's root.
    expect(cgroupCpuLimit(tree('4:cpu:/../x\n', { '/proc/self/mountinfo': v1Mount('/', '/sys/fs/cgroup/cpu'), ...quota }))).toBeNull();
    // The mount of its cgroup's parent: read from the cgroup down, not from the mount point up.
    expect(cgroupCpuLimit(tree('4:cpu:/docker/abc/inner\n', { '/proc/self/mountinfo': v1Mount('/docker/abc', '/sys/fs/cgroup/cpu'), ...quota, '/sys/fs/cgroup/cpu/inner/cpu.cfs_quota_us': '400000', '/sys/fs/cgroup/cpu/inner/cpu.cfs_period_us': '100000' }))).toBe(0.5);
  });
});

