import { DURATION_UNITS_MS } from './durations.ts'

export type RateSpec = {
  /** Requests allowed per window. */
  limit: number
  windowMs: number
  /** The text as written, for headers and messages. */
  text: string
}

const RATE = /^(\d+)\s*\/\s*(\d+(?:\.\d+)?)?(ms|s|m|h|d)$/

/** `100/1m`, `10/s`, `5000/1h` → a RateSpec; undefined when the text is not a rate. */
export function parseRate(text: string): RateSpec | undefined {
  const m = RATE.exec(text.trim())
  if (!m) return undefined
  const limit = Number(m[1])
  const windowMs = Math.round(Number(m[2] ?? '1') * DURATION_UNITS_MS[m[3]!]!)
  if (limit < 1 || windowMs < 1) return undefined
  return { limit, windowMs, text: text.trim() }
}
