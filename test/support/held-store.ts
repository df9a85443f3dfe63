import { hashApiKeySecret } from '../../src/apikeys/index.ts'
import type { Store } from '../../src/store/index.ts'

type StoreMethod = { [K in keyof Store]: Store[K] extends (...args: never[]) => unknown ? K : never }[keyof Store]

/** One held store call: it has read its answer and waits with it until released. */
export type Hold = { reached: Promise<void>; release(): void }

/**
 * Controls the timing of a real store's answers, nothing else: the next call of a method reads
 * from the store as usual, then holds its answer until the test releases it. This is how a test
 * puts an admin change between a lookup's read and what it does with the answer.
 */
export type HeldStore = {
  /** For `startGateway(config, { wrapStore })`. */
  wrap(store: Store): Store
  holdNext(method: StoreMethod): Hold
  /** How often the store was asked for the key with this secret (a cache miss each). */
  lookupsOf(secret: string): number
}

export function createHeldStore(): HeldStore {
  const holds = new Map<string, { reached(): void; released: Promise<void> }>()
  const lookups = new Map<string, number>()
  return {
    wrap: (store) =>
      new Proxy(store, {
        get(target, name, receiver) {
          const value: unknown = Reflect.get(target, name, receiver)
          if (typeof value !== 'function') return value
          return async (...args: unknown[]) => {
            if (name === 'findApiKeyWithOwner') lookups.set(String(args[0]), (lookups.get(String(args[0])) ?? 0) + 1)
            const answer: unknown = await (value as (...a: unknown[]) => unknown).apply(target, args)
            const hold = holds.get(String(name))
            if (hold) {
              holds.delete(String(name))
              hold.reached()
              await hold.released
            }
            return answer
          }
        },
      }),
    holdNext(method) {
      let reached!: () => void
      let release!: () => void
      const hold: Hold = { reached: new Promise((r) => (reached = r)), release: () => release() }
      holds.set(method, { reached, released: new Promise((r) => (release = r)) })
      return hold
    },
    lookupsOf: (secret) => lookups.get(hashApiKeySecret(secret)) ?? 0,
  }
}
