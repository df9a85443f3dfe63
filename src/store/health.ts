import type { Store } from './types.ts'
import { StoreUnavailableError } from './unavailable.ts'

export type StoreHealth = {
  /** The store whose every call is watched: an unavailable answer marks it down, any answer marks it up. */
  store: Store
  /** Asks the store one cheap question (bounded by its query timeout): /readyz's check. */
  ready(): Promise<boolean>
  /** Why the store is down, while it is. */
  detail(): { error: string } | undefined
}

/** An id no user has: the readiness question only needs an answer, and "none" is one. */
const PROBE_USER_ID = '00000000-0000-0000-0000-000000000000'

/**
 * Whether the store answers, as requests and readiness probes find it. An outage is reported
 * once when it starts and once when it ends (`onChange`), not once per refused request.
 */
export function watchStoreHealth(store: Store, onChange: (error: Error | undefined) => void): StoreHealth {
  let down: Error | undefined
  const observe = <T>(answer: Promise<T>): Promise<T> =>
    answer.then(
      (value) => {
        if (down !== undefined) {
          down = undefined
          onChange(undefined)
        }
        return value
      },
      (err: unknown) => {
        if (err instanceof StoreUnavailableError) {
          if (down === undefined) onChange(err)
          down = err
        }
        throw err
      },
    )
  const watched = new Proxy(store, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver)
      if (typeof value !== 'function' || key === 'close') return value
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args)
        return result instanceof Promise ? observe(result) : result
      }
    },
  })
  return {
    store: watched,
    ready: () =>
      watched.getUser(PROBE_USER_ID).then(
        () => true,
        () => false,
      ),
    detail: () => (down === undefined ? undefined : { error: down.message }),
  }
}
