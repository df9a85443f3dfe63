import type { Measurement } from '../../bench/measure.ts'

type Overrides = Partial<Omit<Measurement, 'cpu'>> & Pick<Measurement, 'target' | 'scenario'> & { cpu?: Partial<Measurement['cpu']> }

/** A plausible measurement; tests override what they look at (of `cpu`, only the fields they give). */
export function measurement({ cpu, ...overrides }: Overrides): Measurement {
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
    rssMB: { start: 80, end: 81, maxInWindow: 82, peak: 90 },
    ...overrides,
    cpu: { ticks: 500, usPerRequest: 50, kernelUsPerRequest: 20, ...cpu },
  }
}
