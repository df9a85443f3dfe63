import type pg from 'pg'
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'
import { StoreUnavailableError, asStoreError } from './unavailable.ts'

/**
 * The pool as Kysely sees it, made safe against connection loss. pg-pool listens for `error` on
 * idle clients only: a client checked out for a query emits `error` when its socket resets or the
 * server terminates the session, and with no listener that event ends the process. Each client
 * lent out here carries a listener while it is out, and a client whose connection failed — an
 * error event, a read timeout, a reset — goes back to the pool as broken, so the pool closes it
 * and opens a fresh one instead of lending it again (after a read timeout the server may still
 * answer the abandoned query, on a socket that may never recover). A connection failure leaves
 * here as StoreUnavailableError.
 */
export function guardedPool(pool: pg.Pool): PostgresPool {
  return {
    connect: async () => {
      try {
        return new GuardedClient(await pool.connect())
      } catch (error) {
        throw asStoreError(error)
      }
    },
    end: () => pool.end(),
  }
}

class GuardedClient implements PostgresPoolClient {
  readonly #client: pg.PoolClient
  #broken: Error | undefined
  readonly #onError = (error: Error): void => {
    this.#broken ??= error
  }

  constructor(client: pg.PoolClient) {
    this.#client = client
    client.on('error', this.#onError)
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>
  query<R>(
    statement: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof statement !== 'string') return this.#client.query(statement as unknown as pg.Submittable) as unknown as PostgresCursor<R>
    // A broken connection fails at once: a transaction's ROLLBACK must not wait out a second timeout.
    if (this.#broken !== undefined) return Promise.reject(new StoreUnavailableError(this.#broken))
    return this.#client.query(statement, parameters as unknown[]).then(
      (result) => result as unknown as PostgresQueryResult<R>,
      (error: unknown) => {
        const reported = asStoreError(error)
        if (reported instanceof StoreUnavailableError) this.#broken ??= error as Error
        throw reported
      },
    )
  }

  release(): void {
    this.#client.removeListener('error', this.#onError)
    this.#client.release(this.#broken)
  }
}
