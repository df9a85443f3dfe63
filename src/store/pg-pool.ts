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
    connect: () => lend(pool),
    end: () => pool.end(),
  }
}

async function lend(pool: pg.Pool): Promise<GuardedClient> {
  try {
    return new GuardedClient(await pool.connect())
  } catch (error) {
    throw asStoreError(error)
  }
}

/**
 * A named statement with positional rows, run on a connection lent as `guardedPool` lends them.
 * pg parses a named statement once per connection and then only binds it, which Kysely's
 * unnamed queries (parsed and planned anew on every run) never do: for a query the proxy runs on
 * every cache miss, with other parameters only.
 */
export function namedStatement(pool: pg.Pool, name: string, text: string): (values: unknown[]) => Promise<unknown[][]> {
  return async (values) => {
    const client = await lend(pool)
    try {
      return (await client.run<unknown[]>({ name, text, values, rowMode: 'array' })).rows
    } finally {
      client.release()
    }
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
    return this.run({ text: statement, values: parameters as unknown[] }) as unknown as Promise<PostgresQueryResult<R>>
  }

  run<R extends pg.QueryResultRow | unknown[]>(config: pg.QueryConfig | pg.QueryArrayConfig): Promise<pg.QueryResult<R>> {
    // A broken connection fails at once: a transaction's ROLLBACK must not wait out a second timeout.
    if (this.#broken !== undefined) return Promise.reject(new StoreUnavailableError(this.#broken))
    return (this.#client.query(config) as Promise<pg.QueryResult<R>>).catch((error: unknown) => {
      const reported = asStoreError(error)
      if (reported instanceof StoreUnavailableError) this.#broken ??= error as Error
      throw reported
    })
  }

  release(): void {
    this.#client.removeListener('error', this.#onError)
    this.#client.release(this.#broken)
  }
}
