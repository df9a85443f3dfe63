/**
 * The store cannot be reached right now (connection refused, reset or timed out, the server
 * shutting down or cancelling a statement that ran past its timeout, SQLite locked past its busy
 * timeout), as opposed to a bug or bad input: callers answer 503, never 500 and never a silent
 * allow. The engines raise it, so no caller needs to know a driver's error codes.
 */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the store is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    this.name = 'StoreUnavailableError'
  }
}

/** A driver's error as the store reports it: a connection failure becomes StoreUnavailableError, anything else stays. */
export function asStoreError(err: unknown): unknown {
  return err instanceof StoreUnavailableError || !isConnectionFailure(err) ? err : new StoreUnavailableError(err)
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'SQLITE_BUSY'])

/** pg's own messages for a connection that failed, timed out or was closed under a query. */
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Query read timeout|is not queryable|Cannot use a pool after calling end/

function isConnectionFailure(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const { code, message } = err as { code?: unknown; message?: unknown }
  if (typeof code === 'string') {
    // PostgreSQL: class 08 (connection exception), class 53 (insufficient resources, e.g. too many
    // connections), 57014 (statement_timeout cancelled it), 57P01-57P03 (admin shutdown, cannot connect now).
    if (CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('53') || /^57(014|P0[1-3])$/.test(code)) return true
  }
  if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true
  const cause = (err as { cause?: unknown }).cause
  return cause !== undefined && cause !== err && isConnectionFailure(cause)
}

/**
 * The store with every call that fails with StoreUnavailableError reported to `onUnavailable`
 * (the metrics), whoever made it: the proxy's key lookups, the admin API, the usage flush.
 */
export function reportingUnavailable<S extends object>(store: S, onUnavailable: () => void): S {
  const report = (err: unknown) => {
    if (err instanceof StoreUnavailableError) onUnavailable()
    throw err
  }
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        let result: unknown
        try {
          result = Reflect.apply(value, target, args)
        } catch (err) {
          return report(err)
        }
        return result instanceof Promise ? result.catch(report) : result
      }
    },
  })
}
