import { performance } from 'node:perf_hooks'
import { runLoad, percentile } from './load.ts'
import type { LoadResult, LoadSpec } from './load.ts'
import { clockTicksPerSecond, cpuMicrosPerRequest, sampleTree, treeRssKb } from './proc.ts'
import type { TreeSample } from './proc.ts'
import type { Target } from './targets/launch.ts'

/** What one target does under one scenario, all figures over the measured window only. */
export type Measurement = {
  target: string
  /** e.g. "cache on" / "no cache" for fastify-stack; empty when the target has one form. */
  variant: string
  scenario: string
  connections: number
  windowS: number
  requests: number
  rps: number
  latencyMs: { p50: number; p99: number; p999: number }
  /** Socket errors and timeouts. */
  errors: number
  expectedStatus: number
  /** Responses with any other status than the expected one. */
  unexpectedStatus: number
  statusCounts: Record<string, number>
  /**
   * `kernelUsPerRequest` is the part of `usPerRequest` spent in the kernel (stime): the loopback
   * sockets' reads and writes, and waking the peer process that waits on them.
   */
  cpu: { ticks: number; usPerRequest: number; kernelUsPerRequest: number }
  /** Resident set of the target's process tree, MB: at the window's start and end, the most seen while
   * polling during it, and VmHWM (the peak over the process's whole life). */
  rssMB: { start: number; end: number; maxInWindow: number; peak: number }
}

export type MeasureSpec = {
  target: string
  variant?: string
  scenario: string
  expectedStatus?: number
  load: Omit<LoadSpec, 'origin' | 'durationS' | 'amount' | 'maxSeconds'>
}

export type Timing = { warmupS: number; durationS: number }

const RSS_POLL_MS = 200

/** Warm-up, then the measured window, with the target's /proc read right before and right after it. */
export async function measure(target: Target, spec: MeasureSpec, timing: Timing): Promise<Measurement> {
  const load = { ...spec.load, origin: target.origin }
  await runLoad({ ...load, durationS: timing.warmupS })

  const before = sampleTree(target.pid)
  let maxRssKb = before.rssKb
  const poll = setInterval(() => (maxRssKb = Math.max(maxRssKb, treeRssKb(before.pids))), RSS_POLL_MS)
  const started = performance.now()
  let result: LoadResult
  try {
    result = await runLoad({ ...load, durationS: timing.durationS })
  } finally {
    clearInterval(poll)
  }
  const elapsedS = (performance.now() - started) / 1000
  const after = sampleTree(target.pid)
  return summarize(spec, { before, after, maxRssKb, elapsedS, result, ticksPerSecond: clockTicksPerSecond() })
}

export type WindowData = {
  before: TreeSample
  after: TreeSample
  maxRssKb: number
  elapsedS: number
  result: LoadResult
  ticksPerSecond: number
}

/** The arithmetic of a measurement, apart from the I/O that gathers its inputs. */
export function summarize(spec: MeasureSpec, data: WindowData): Measurement {
  const { before, after, result } = data
  const expectedStatus = spec.expectedStatus ?? 200
  const ticks = after.ticks - before.ticks
  const mb = (kb: number) => kb / 1024
  return {
    target: spec.target,
    variant: spec.variant ?? '',
    scenario: spec.scenario,
    connections: spec.load.connections,
    windowS: data.elapsedS,
    requests: result.responses,
    rps: result.responses / data.elapsedS,
    latencyMs: {
      p50: percentile(result.latenciesMs, 0.5),
      p99: percentile(result.latenciesMs, 0.99),
      p999: percentile(result.latenciesMs, 0.999),
    },
    errors: result.errors,
    expectedStatus,
    unexpectedStatus: result.responses - (result.statusCounts[expectedStatus] ?? 0),
    statusCounts: result.statusCounts,
    cpu: {
      ticks,
      usPerRequest: cpuMicrosPerRequest(ticks, data.ticksPerSecond, result.responses),
      kernelUsPerRequest: cpuMicrosPerRequest(after.kernelTicks - before.kernelTicks, data.ticksPerSecond, result.responses),
    },
    rssMB: {
      start: mb(before.rssKb),
      end: mb(after.rssKb),
      maxInWindow: mb(Math.max(data.maxRssKb, after.rssKb)),
      peak: mb(after.hwmKb),
    },
  }
}
