import type { Measurement } from '../../bench/measure.ts'

/** A plausible measurement; tests override what they look at. */
export function measurement(overrides: Partial<Measurement> & Pick<Measurement, 'target' | 'scenario'>): Measurement {
  return {
    variant: '',
    connections: 32,
    windowS: 10,
    requests: 100_000,
    rps: 10_000,
    latencyMs: { p50: 2, p99: 8, p999: 12 },
    errors: 0,
    expectedStatus: 200,
    unexpectedStatus: 0,
    statusCounts: { 200: 100_000 },
    cpu: { ticks: 500, usPerRequest: 50 },
    rssMB: { start: 80, end: 81, maxInWindow: 82, peak: 90 },
    ...overrides,
  }
}
