import { pino } from 'pino'
import type { Logger } from 'pino'

export type { Logger }

/**
 * JSON lines on stdout. Asynchronous, buffered writes keep logging off the request's critical
 * path; `flushLog` drains the buffer at shutdown so the last lines are not lost.
 */
export function createLogger(level: string, destination: number | string = 1): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['authorization', 'headers.authorization', 'headers["x-api-key"]', '*.api_key', '*.secret'], remove: true },
    },
    pino.destination({ dest: destination, sync: false, minLength: 4096 }),
  )
}

export function flushLog(log: Logger): void {
  log.flush()
}
