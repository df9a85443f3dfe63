/**
 * Values derived from a long-lived object (a cached identity, its membership), kept from the
 * object's second use on: the first `offer` only marks the object, the next ones keep the value.
 * A cache full of one-time callers (a script, a webhook) then holds a mark per caller instead of
 * a value nobody reads again. Weakly held: an entry goes with its object.
 */
export type SecondUseMap<K extends object, V> = {
  /** The kept value; undefined before the second `offer`. */
  get(key: K): V | undefined
  /** Marks `key` on its first offer; keeps `value()` (replacing what was kept) on every later one, the only time it is called. */
  offer(key: K, value: () => V): void
}

export function createSecondUseMap<K extends object, V>(): SecondUseMap<K, V> {
  const kept = new WeakMap<K, V | typeof SEEN_ONCE>()
  return {
    get: (key) => kept.get(key) ?? undefined,
    offer: (key, value) => void kept.set(key, kept.has(key) ? value() : SEEN_ONCE),
  }
}

/** Marks an object offered once. */
const SEEN_ONCE = null
