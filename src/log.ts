import { pino } from 'pino'
import type { Logger } from 'pino'

export type { Logger }

const FLUSH_INTERVAL_MS = 250

/**
 * JSON lines on stdout. Buffered asynchronous writes keep logging off the request's critical
 * path; a timer flushes the buffer so that a quiet gateway's lines still appear promptly.
 */
export function createLogger(level: string, destination: number | string = 1): Logger {
  const stream = pino.destination({ dest: destination, sync: false, minLength: 4096 })
  setInterval(() => stream.flush(), FLUSH_INTERVAL_MS).unref()
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['authorization', 'headers.authorization', 'headers["x-api-key"]', '*.api_key', '*.secret'], remove: true },
    },
    stream,
  )
}
