// What the process may use: the parsers on sample file contents, the readers on fake
// /proc + cgroup trees (cgroup v2 nested, v1, hybrid, a container's own view), the rule
// min(cgroup limit - working set, MemAvailable) and the override.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  memoryAllowance, parseByteSize, parseCgroupValue, parseKbFields, parseMemoryStat, parseMountInfo, parseProcCgroup,
  readCgroupBound, readMemAvailable, MEMORY_LIMIT_ENV,
} from '../src/memory/allowance';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

const roots: string[] = [];
after(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

/** A fake filesystem root holding `files` (path -> content). */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'allowance-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const meminfo = (availableKb: number) => `MemTotal:       24683756 kB\nMemFree:        21189996 kB\nMemAvailable:   ${availableKb} kB\nBuffers:           26884 kB\nHugePages_Total:       0\n`;
const V2_MOUNT = '30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
/** This test machine's layout: cgroup v1 controllers, v2 mounted beside them without memory. */
const HYBRID_MOUNTS = [
  '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const HYBRID_CGROUP = '9:name=systemd:/\n8:pids:/\n4:memory:/process_api/c4447338251cb782c0be1f5127c66f59\n1:cpu:/\n0::/\n';

describe('parsers', () => {
  test('/proc/self/cgroup: v2, v1 and hybrid', () => {
    assert.deepEqual(parseProcCgroup('0::/kubepods.slice/pod1.slice/cri-abc.scope\n'), { v2: '/kubepods.slice/pod1.slice/cri-abc.scope' });
    assert.deepEqual(parseProcCgroup('5:cpu,cpuacct:/docker/ab\n4:memory:/docker/ab\n'), { v1Memory: '/docker/ab' });
    assert.deepEqual(parseProcCgroup(HYBRID_CGROUP), { v2: '/', v1Memory: '/process_api/c4447338251cb782c0be1f5127c66f59' });
  });

  test('mountinfo: the cgroup2 mount and the v1 memory mount with their roots; escaped paths', () => {
    assert.deepEqual(parseMountInfo(HYBRID_MOUNTS), {
      v2: { mountPoint: '/sys/fs/cgroup/unified', root: '/' },
      v1Memory: { mountPoint: '/sys/fs/cgroup/memory', root: '/' },
    });
    assert.deepEqual(parseMountInfo('40 30 0:31 /docker/ab /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n'), {
      v1Memory: { mountPoint: '/sys/fs/cgroup/memory', root: '/docker/ab' },
    });
    assert.deepEqual(parseMountInfo('50 1 0:40 / /mnt/my\\040cgroups rw - cgroup2 none rw\n').v2, { mountPoint: '/mnt/my cgroups', root: '/' });
  });

  test('limit values: max, v1 "unlimited", numbers, junk', () => {
    assert.equal(parseCgroupValue('max\n'), Infinity);
    assert.equal(parseCgroupValue('9223372036854771712\n'), Infinity);
    assert.equal(parseCgroupValue('25769803776\n'), 24 * GiB);
    assert.equal(parseCgroupValue(''), undefined);
    assert.equal(parseCgroupValue('-1'), undefined);
  });

  test('memory.stat and kB fields (meminfo, status)', () => {
    const stat = parseMemoryStat('anon 1000\nfile 5000\ninactive_file 4096\nactive_file 904\n');
    assert.equal(stat.get('inactive_file'), 4096);
    assert.equal(stat.get('anon'), 1000);
    const mi = parseKbFields(meminfo(23354100));
    assert.equal(mi.get('MemAvailable'), 23354100 * 1024);
    assert.equal(mi.get('HugePages_Total'), 0);
    assert.equal(parseKbFields('Name:\tnode\nVmRSS:\t  102660 kB\n').get('VmRSS'), 102660 * 1024);
  });

  test('byte sizes as operators write them', () => {
    assert.equal(parseByteSize('25769803776'), 24 * GiB);
    assert.equal(parseByteSize('24G'), 24 * GiB);
    assert.equal(parseByteSize('24Gi'), 24 * GiB);
    assert.equal(parseByteSize('24GiB'), 24 * GiB);
    assert.equal(parseByteSize('512m'), 512 * MiB);
    assert.equal(parseByteSize('1.5T'), 1.5 * 1024 * GiB);
    assert.equal(parseByteSize('4096b'), 4096);
    assert.throws(() => parseByteSize('24 GiBs'), /not a byte size/);
    assert.equal(parseByteSize(' max '), 'max');
    assert.throws(() => parseByteSize('lots'), /"lots" is not a byte size/);
    assert.throws(() => parseByteSize('0'), /not a positive byte size/);
  });
});

describe('readers on fake trees', () => {
  test('cgroup v2: the tightest level wins (the pod limits, the container does not); inactive files are not in use', () => {
    const pod = '/sys/fs/cgroup/kubepods.slice/pod1.slice';
    const root = tree({
      '/proc/self/cgroup': '0::/kubepods.slice/pod1.slice/cri-abc.scope\n',
      '/proc/self/mountinfo': V2_MOUNT,
      [`${pod}/cri-abc.scope/memory.max`]: 'max\n',
      [`${pod}/cri-abc.scope/memory.current`]: `${1 * GiB}\n`,
      [`${pod}/memory.max`]: `${24 * GiB}\n`,
      [`${pod}/memory.high`]: 'max\n',
      [`${pod}/memory.current`]: `${3 * GiB}\n`,
      [`${pod}/memory.stat`]: `anon ${1 * GiB}\ninactive_file ${1843 * MiB}\n`,
      '/sys/fs/cgroup/kubepods.slice/memory.max': `${64 * GiB}\n`,
      '/sys/fs/cgroup/kubepods.slice/memory.current': `${40 * GiB}\n`,
    });
    const b = readCgroupBound(root)!;
    assert.equal(b.version, 2);
    assert.equal(b.dir, pod);
    assert.equal(b.limit, 24 * GiB);
    assert.equal(b.workingSet, 3 * GiB - 1843 * MiB);
  });

  test('cgroup v2: memory.high below memory.max is the limit', () => {
    const root = tree({
      '/proc/self/cgroup': '0::/\n',
      '/proc/self/mountinfo': V2_MOUNT,
      '/sys/fs/cgroup/memory.max': `${16 * GiB}\n`,
      '/sys/fs/cgroup/memory.high': `${12 * GiB}\n`,
      '/sys/fs/cgroup/memory.current': `${2 * GiB}\n`,
    });
    assert.equal(readCgroupBound(root)!.limit, 12 * GiB);
  });

  test('cgroup v1 on a hybrid host (this machine\'s layout): no limit, then a limit', () => {
    const leaf = '/sys/fs/cgroup/memory/process_api/c4447338251cb782c0be1f5127c66f59';
    const files = {
      '/proc/self/cgroup': HYBRID_CGROUP,
      '/proc/self/mountinfo': HYBRID_MOUNTS,
      '/sys/fs/cgroup/unified/cgroup.procs': '',
      [`${leaf}/memory.limit_in_bytes`]: '9223372036854771712\n',
      [`${leaf}/memory.usage_in_bytes`]: '3948544\n',
      [`${leaf}/memory.stat`]: 'cache 1159168\nrss 1875968\ninactive_file 516096\ntotal_inactive_file 516096\n',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
      '/sys/fs/cgroup/memory/memory.usage_in_bytes': '2758488064\n',
    };
    assert.equal(readCgroupBound(tree(files)), undefined);
    const limited = readCgroupBound(tree({ ...files, [`${leaf}/memory.limit_in_bytes`]: `${8 * GiB}\n` }))!;
    assert.deepEqual(limited, { version: 1, dir: leaf, limit: 8 * GiB, workingSet: 3948544 - 516096 });
  });

  test("a container's own view: the path in /proc/self/cgroup lies under the mount's root", () => {
    const root = tree({
      '/proc/self/cgroup': '4:memory:/docker/ab\n',
      '/proc/self/mountinfo': '40 30 0:31 /docker/ab /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes': `${4 * GiB}\n`,
      '/sys/fs/cgroup/memory/memory.usage_in_bytes': `${1 * GiB}\n`,
    });
    assert.deepEqual(readCgroupBound(root), { version: 1, dir: '/sys/fs/cgroup/memory', limit: 4 * GiB, workingSet: 1 * GiB });
  });

  test('no cgroup files at all (not Linux, or /sys not mounted): no bound', () => {
    assert.equal(readCgroupBound(tree({ '/proc/meminfo': meminfo(1000) })), undefined);
    assert.equal(readMemAvailable(tree({})), undefined);
  });
});

describe('the allowance', () => {
  const v2 = (limit: number, current: number, availableKb: number) => tree({
    '/proc/self/cgroup': '0::/\n',
    '/proc/self/mountinfo': V2_MOUNT,
    '/sys/fs/cgroup/memory.max': `${limit}\n`,
    '/sys/fs/cgroup/memory.current': `${current}\n`,
    '/proc/meminfo': meminfo(availableKb),
    '/proc/self/status': 'VmRSS:\t  1048576 kB\n',
  });

  test('min(cgroup limit - working set, MemAvailable); own RSS not added back', () => {
    const a = memoryAllowance({ root: v2(24 * GiB, 1229 * MiB, 40 * 1024 * 1024), env: {} });
    assert.equal(a.bytes, 24 * GiB - 1229 * MiB);
    assert.equal(a.cgroup!.limit, 24 * GiB);
    assert.equal(a.memAvailable, 40 * GiB);
    const host = memoryAllowance({ root: v2(24 * GiB, 1229 * MiB, 10 * 1024 * 1024), env: {} });
    assert.equal(host.bytes, 10 * GiB, 'the host has less left than the cgroup allows');
  });

  test('over the limit already: 0, not negative', () => {
    assert.equal(memoryAllowance({ root: v2(1 * GiB, 2 * GiB, 1024), env: {} }).bytes, 0);
  });

  test('no limit anywhere: Infinity', () => {
    assert.equal(memoryAllowance({ root: tree({}), env: {} }).bytes, Infinity);
  });

  test('the override replaces the detection: limit minus this process\'s RSS; env; max', () => {
    const root = v2(24 * GiB, 1229 * MiB, 40 * 1024 * 1024);
    const opt = memoryAllowance({ root, override: 5 * GiB, env: {} });
    assert.deepEqual(opt, { bytes: 4 * GiB, override: { limit: 5 * GiB, rss: 1 * GiB, source: 'the memory limit option' } });
    const env = memoryAllowance({ root, env: { [MEMORY_LIMIT_ENV]: '3G' } });
    assert.equal(env.bytes, 2 * GiB);
    assert.equal(env.override!.source, MEMORY_LIMIT_ENV);
    assert.equal(memoryAllowance({ root, env: { [MEMORY_LIMIT_ENV]: 'max' } }).bytes, Infinity);
    assert.equal(memoryAllowance({ root, override: 6 * GiB, env: { [MEMORY_LIMIT_ENV]: '3G' } }).bytes, 5 * GiB, 'the option wins over env');
    assert.throws(() => memoryAllowance({ root, env: { [MEMORY_LIMIT_ENV]: 'lots' } }), /"lots" is not a byte size/);
  });
});
