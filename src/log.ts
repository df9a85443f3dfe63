import { writeSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { pino } from 'pino'
import type { Logger } from 'pino'
import type { DenyReason } from './decide/index.ts'
import type { ParserRefusalReason } from './http/index.ts'
import type { Identity } from './identity/index.ts'
import type { CompiledRoute } from './rules/index.ts'

export type { Logger }

const FLUSH_INTERVAL_MS = 250
/** Characters of log lines joined before a write is handed to sonic-boom (about 40 access-log lines). */
const CHUNK_CHARS = 8 * 1024

/**
 * JSON lines on stdout. Buffered asynchronous writes keep logging off the request's critical
 * path; a timer flushes the buffer so that a quiet gateway's lines still appear promptly, and
 * shutdown flushes what is left (src/server.ts), as does exiting.
 */
export function createLogger(level: string, destination: number | string = 1): Logger {
  const boom = pino.destination({ dest: destination, sync: false })
  const lines = chunkedLines(boom)
  setInterval(() => lines.flush(), FLUSH_INTERVAL_MS).unref()
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['authorization', 'headers.authorization', 'headers["x-api-key"]', '*.api_key', '*.secret'], remove: true },
    },
    lines,
  )
}

type LineStream = { write(line: string): boolean; flush(done?: (err?: Error) => void): void; flushSync(): void }

/**
 * Joins lines into chunks of CHUNK_CHARS before sonic-boom sees them. sonic-boom measures the
 * byte length of its pending buffer on every write, flattening the string it has joined so far,
 * so that one write per line cost in proportion to what was already buffered (a fifth of an
 * access-log line's CPU at 4 KiB); one write per chunk pays it once. Every line, pino's and the
 * access log's, passes through here, so their order is kept.
 */
function chunkedLines(boom: ReturnType<typeof pino.destination>): LineStream {
  let chunk = ''
  const handOver = () => {
    if (chunk === '') return
    boom.write(chunk)
    chunk = ''
  }
  // Nothing asynchronous runs once the process exits: what sonic-boom holds is written, then the chunk.
  process.once('exit', () => {
    if (chunk === '') return
    try {
      boom.flushSync()
      // sonic-boom's types leave out its descriptor, which it has once flushSync succeeded.
      writeSync((boom as unknown as { fd: number }).fd, chunk)
    } catch {
      // The destination is gone already (closed, or a broken pipe): there is nowhere left to write.
    }
  })
  return {
    write(line) {
      chunk += line
      if (chunk.length >= CHUNK_CHARS) handOver()
      return true
    },
    flush(done) {
      handOver()
      boom.flush(done)
    },
    flushSync() {
      handOver()
      boom.flushSync()
    },
  }
}

/** What the access log reads of the request itself: none of it for a request Node's parser refused. */
export type LoggedRequest = Pick<IncomingMessage, 'method' | 'url'>

/** What the access log records of one request, whichever door it came through. */
export type AccessOutcome = {
  status: number
  route?: CompiledRoute
  identity?: Identity
  requestId?: string
  /** The request a forward-auth call asked about (its query left out, like the logged path's). */
  original?: { method: string; path: string }
  /**
   * Why the request was refused: the deny's code when the decision refused it; what Node's parser
   * refused; a handshake or request the gateway could not serve (`shutting_down`, `internal_error`).
   */
  reason?: DenyReason | ParserRefusalReason | 'shutting_down' | 'internal_error'
  /** The credential failure's log reason, or how forwarding failed. */
  error?: string
  /** What to log as the path when the request's own carries a secret (a magic link's). */
  loggedPath?: string
}

/**
 * Writes the gateway's access-log line itself, straight to the logger's destination: built as a
 * string in one pass, it skips pino's per-call object walk and redaction (the line holds no
 * credential by construction), which on the hot path cost about half of a cached request's CPU.
 * The line is the same JSON pino would write (level, time, the logger's bindings — a worker's pid
 * and id — the fields, msg).
 */
export function createAccessLogWriter(log: Logger): (req: LoggedRequest, outcome: AccessOutcome, startedMs: number) => void {
  const stream = (log as unknown as Record<symbol, { write(line: string): unknown }>)[pino.symbols.streamSym]!
  // pino's own text of them (`,"pid":1,"worker":2`): its bindings() leaves the pid out.
  const bindings = (log as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? ''
  const time = createIsoClock()
  return (req, outcome, startedMs) => {
    if (!log.isLevelEnabled('info')) return
    const fields = accessLogFields(req, outcome, startedMs)
    let line = `{"level":"info","time":"${time()}"${bindings}`
    for (const name in fields) {
      const value = fields[name]
      if (value !== undefined) line += `,"${name}":${jsonOf(value)}`
    }
    stream.write(`${line},"msg":"request"}\n`)
  }
}

/**
 * `new Date().toISOString()`, formatted once per millisecond: a busy gateway writes many lines in
 * the same one, and the formatting was a third of building a line.
 */
function createIsoClock(): () => string {
  let lastMs = -1
  let text = ''
  return () => {
    const now = Date.now()
    if (now !== lastMs) {
      lastMs = now
      text = new Date(now).toISOString()
    }
    return text
  }
}

/** Printable ASCII without `"` and `\`: JSON.stringify would return such a string quoted and unchanged. */
const JSON_VERBATIM = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

/** JSON.stringify's text of a field, without its general walk for the usual plain string or number. */
function jsonOf(value: unknown): string {
  if (typeof value === 'string') return JSON_VERBATIM.test(value) ? `"${value}"` : JSON.stringify(value)
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : JSON.stringify(value)
}

/** The fields of an access-log line: the path without its query (which may carry anything), never a credential. */
export function accessLogFields(req: LoggedRequest, outcome: AccessOutcome, startedMs: number): Record<string, unknown> {
  return {
    method: req.method,
    path: outcome.loggedPath ?? req.url?.split('?', 1)[0]!.slice(0, 512),
    original: outcome.original && { method: outcome.original.method.slice(0, 32), path: outcome.original.path.slice(0, 512) },
    status: outcome.status,
    duration_ms: Math.round((performance.now() - startedMs) * 1000) / 1000,
    route: outcome.route?.pattern,
    user_id: outcome.identity?.user?.userId,
    client_id: outcome.identity?.clientId,
    org_id: outcome.identity?.activeOrg?.orgId ?? outcome.identity?.org?.orgId,
    request_id: outcome.requestId,
    reason: outcome.reason,
    error: outcome.error,
  }
}
