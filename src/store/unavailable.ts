/**
 * Whether an error means the store cannot be reached right now (connection refused, reset or
 * timed out, the server shutting down), as opposed to a bug or bad input: callers answer 503,
 * never 500 and never a silent allow.
 */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'SQLITE_BUSY'])

export function isStoreUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const { code, message } = err as { code?: unknown; message?: unknown }
  if (typeof code === 'string') {
    // PostgreSQL: class 08 (connection exception), 57P01-57P03 (admin shutdown, cannot connect now).
    if (CONNECTION_CODES.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code)) return true
  }
  if (typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED/.test(message))
    return true
  const cause = (err as { cause?: unknown }).cause
  return cause !== undefined && cause !== err && isStoreUnavailable(cause)
}
