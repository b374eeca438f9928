import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cgroupCpuLimit, cpuMaxCores, oneCoreNodeFlags, type TextReader } from '../../src/server/v8-settings.js';

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

  it('has no limit without cgroup v2, without cpu.max files, or with only "max"', () => {
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
});
