import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cpuMicrosPerRequest, descendants, parseStat, parseStatusKb } from '../../bench/proc.ts'
import { summarize } from '../../bench/measure.ts'

// A real /proc/<pid>/stat line (52 fields) with utime=1234 and stime=567.
const STAT =
  '4242 (node) S 4200 4242 4200 0 -1 4194560 9000 0 0 0 1234 567 0 0 20 0 11 0 123456 1100000000 25000 18446744073709551615 1 1 0 0 0 0 0 16781312 134235650 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0'

describe('parseStat', () => {
  it('reads pid, ppid, utime and stime', () => {
    assert.deepEqual(parseStat(STAT), { pid: 4242, ppid: 4200, utime: 1234, stime: 567 })
  })

  it('counts fields from the last parenthesis, whatever the command name holds', () => {
    const line = STAT.replace('(node)', '(nginx: worker (1) x)')
    assert.deepEqual(parseStat(line), { pid: 4242, ppid: 4200, utime: 1234, stime: 567 })
  })

  it('refuses what is not a stat line', () => {
    assert.throws(() => parseStat('garbage'), /not a \/proc stat line/)
    assert.throws(() => parseStat('1 (x) S 0'), /field 14 missing/)
  })
})

describe('parseStatusKb', () => {
  const status = 'Name:\tnode\nVmPeak:\t 1200000 kB\nVmHWM:\t  150000 kB\nVmRSS:\t  120000 kB\nThreads:\t11\n'
  it('reads VmRSS and VmHWM in kB, and 0 when the field is absent', () => {
    assert.equal(parseStatusKb(status, 'VmRSS'), 120_000)
    assert.equal(parseStatusKb(status, 'VmHWM'), 150_000)
    assert.equal(parseStatusKb('Name:\tzombie\n', 'VmRSS'), 0)
  })
})

describe('descendants', () => {
  it('finds a process and everything below it, and nothing beside it', () => {
    const stats = [
      { pid: 1, ppid: 0 },
      { pid: 10, ppid: 1 }, // nginx master
      { pid: 11, ppid: 10 }, // its worker
      { pid: 12, ppid: 11 },
      { pid: 20, ppid: 1 }, // unrelated
    ].map((s) => ({ ...s, utime: 0, stime: 0 }))
    assert.deepEqual(
      descendants(stats, 10).sort((a, b) => a - b),
      [10, 11, 12],
    )
  })
})

describe('cpuMicrosPerRequest', () => {
  it('converts clock ticks to µs and divides by completed requests', () => {
    // 250 ticks at 100 Hz = 2.5 s of CPU over 50,000 requests = 50 µs each.
    assert.equal(cpuMicrosPerRequest(250, 100, 50_000), 50)
    assert.equal(cpuMicrosPerRequest(3, 1000, 1), 3000)
  })

  it('is NaN without completed requests, so no ratio is made from it', () => {
    assert.ok(Number.isNaN(cpuMicrosPerRequest(10, 100, 0)))
  })
})

describe('summarize', () => {
  it('computes the window figures from the samples around it', () => {
    const m = summarize(
      { target: 'gatehouse', scenario: 'rate-limited', expectedStatus: 429, load: { path: '/x', connections: 4 } },
      {
        before: { pids: [1], ticks: 1000, kernelTicks: 400, rssKb: 102_400, hwmKb: 110_000 },
        after: { pids: [1], ticks: 1300, kernelTicks: 500, rssKb: 104_448, hwmKb: 120_000 },
        maxRssKb: 112_640,
        elapsedS: 2,
        result: { responses: 4, errors: 1, statusCounts: { 429: 3, 200: 1 }, latenciesMs: Float64Array.from([1, 2, 3, 4]) },
        ticksPerSecond: 100,
      },
    )
    assert.equal(m.cpu.ticks, 300)
    assert.equal(m.cpu.usPerRequest, 750_000) // 3 s of CPU over 4 requests
    assert.equal(m.cpu.kernelUsPerRequest, 250_000) // 1 s of it in the kernel
    assert.equal(m.rps, 2)
    assert.equal(m.unexpectedStatus, 1)
    assert.equal(m.errors, 1)
    assert.deepEqual(m.latencyMs, { p50: 2, p99: 4, p999: 4 })
    assert.deepEqual(m.rssMB, { start: 100, end: 102, maxInWindow: 110, peak: 120000 / 1024 })
  })
})
