/** Parsers for the compact value syntaxes of the config file: durations, rates, listen addresses. */
import { isIP } from 'node:net'

const DURATION_UNITS_MS: Record<string, number> = {
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

export type ListenAddress = { host: string; port: number }

/** `0.0.0.0:8080`, `[::1]:8081`, `:8080` (all interfaces) → host and port. */
export function parseListen(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim())
  if (!m) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port }
}

export type Network = { address: string; prefix: number; family: 'ipv4' | 'ipv6' }

/**
 * `10.0.0.0/8`, `192.168.1.5`, `fd00::/8` → a network; undefined for anything else. The one parser
 * of trust entries: `gatehouse check` and the running gateway must never disagree on one.
 * The prefix must be written in plain decimal digits: Number('') is 0, so a lax reading of
 * `10.0.0.0/` would trust every address.
 */
export function parseCidr(text: string): Network | undefined {
  const [address = '', prefixText, extra] = text.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return undefined
  const max = family === 4 ? 32 : 128
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1
  if (prefix < 0 || prefix > max) return undefined
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' }
}
