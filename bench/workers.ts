/**
 * jwt-hot with one and two gateway processes (`server.workers`, node:cluster): what a second
 * core gives, and what the exact budget costs. Every jwt-hot request decides the user budget;
 * with two workers and no Redis that decision is an IPC round trip to the primary (the limiter
 * of record), so a third row runs two workers without any budget to show the round trip's share.
 * The CPU figures are the whole process tree's (primary and workers); on a 2-core machine the
 * load generator takes a core of its own, so requests per second cannot double here.
 */
import type { Measurement } from './measure.ts'
import { startBenchGatehouse } from './scenarios.ts'
import type { BenchContext, Run } from './scenarios.ts'
import { GATEHOUSE_PATHS } from './targets/gatehouse.ts'

/** The rows' scenarios with what each measures, for the report's "Results by scenario". */
export const WORKER_SCENARIOS: ReadonlyArray<[name: string, what: string]> = [
  ['workers-1', 'jwt-hot with `server.workers: 1`, measured next to the two-worker rows: one process serves'],
  [
    'workers-2',
    'jwt-hot with `server.workers: 2`: two worker processes share the port; each request asks the primary for the user budget over IPC, so the budget stays exact',
  ],
  [
    'workers-2-nobudget',
    'workers-2 without `rate_limits.user`: no budget to decide, no IPC round trip; workers-2 minus this row is what the exact budget costs',
  ],
]

export function workerRuns(ctx: BenchContext): Run[] {
  const load = { path: GATEHOUSE_PATHS.user, connections: ctx.settings.connections, headers: { authorization: `Bearer ${ctx.hotToken}` } }
  const row = (scenario: string, variant: string, workers: number, userBudget = true): Run => ({
    spec: { target: 'gatehouse', variant, scenario, load },
    start: () => startBenchGatehouse(ctx, scenario, { workers, userBudget }),
  })
  return [
    row('workers-1', 'workers: 1', 1),
    row('workers-2', 'workers: 2', 2),
    row('workers-2-nobudget', 'workers: 2, no budget', 2, false),
  ]
}

// Not report.ts's fmt: report.ts lists these rows' scenarios, and the two modules would import each other.
const fmt = (n: number, digits: number) => n.toFixed(digits)

/** One line each: the two-worker rows against the one-worker row of the same run. */
export function workerNotes(measurements: readonly Measurement[]): string[] {
  const of = (scenario: string) => measurements.find((m) => m.target === 'gatehouse' && m.scenario === scenario)
  const one = of('workers-1')
  const two = of('workers-2')
  const unbudgeted = of('workers-2-nobudget')
  if (!one || !two) return []
  const notes = [
    `workers: 2 served ${fmt(two.rps / one.rps, 2)}× the requests per second of workers: 1 (${fmt(two.rps, 0)} vs ${fmt(one.rps, 0)}), ` +
      `at ${fmt(two.cpu.usPerRequest, 1)} vs ${fmt(one.cpu.usPerRequest, 1)} µs CPU per request over every process; p99 ${fmt(two.latencyMs.p99, 2)} vs ${fmt(one.latencyMs.p99, 2)} ms.`,
  ]
  if (unbudgeted) {
    notes.push(
      `The exact budget over IPC cost ${fmt(two.cpu.usPerRequest - unbudgeted.cpu.usPerRequest, 1)} µs CPU per request with two workers ` +
        `(${fmt(unbudgeted.rps, 0)} req/s and p99 ${fmt(unbudgeted.latencyMs.p99, 2)} ms without a budget).`,
    )
  }
  return notes
}
