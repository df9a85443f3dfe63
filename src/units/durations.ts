/** The config file's compact durations: `250ms`, `30s`, `5m`, `1h`, `7d`. */
export const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/** `250ms`, `30s`, `5m`, `1h`, `7d` → milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim())
  if (!m) return undefined
  return Math.round(Number(m[1]) * DURATION_UNITS_MS[m[2]!]!)
}

/** Milliseconds → the shortest duration text that parses back to them (`30s`, `5m`, `1500ms`). */
export function formatDuration(ms: number): string {
  const [unit, size] = Object.entries(DURATION_UNITS_MS)
    .reverse()
    .find(([, size]) => ms % size === 0 && ms >= size) ?? ['ms', 1]
  return `${ms / size}${unit}`
}
