export { formatDuration, parseDuration } from './durations.ts'
export { parseRate } from './rates.ts'
export type { RateSpec } from './rates.ts'
