/** What a generation must free once no request uses it any more (JWKS refresh timers, an upstream pool). */
export type Retirable = { retire(): Promise<void> | void }

export type Generations<G extends Retirable> = {
  /** The generation a request starts under, held until {@link release}: the request finishes under it whatever is swapped in meanwhile. */
  acquire(): G
  release(generation: G): void
  current(): G
  /** Makes `next` the generation new requests start under; the previous one retires once its last request is released. */
  swap(next: G): void
  /** Retires the current generation (at shutdown, after the listeners drained). */
  close(): Promise<void>
}

/**
 * The built parts of one config, swapped atomically behind the listeners' handlers: a reload
 * builds the next generation completely, then swaps it in one assignment, so a request sees the
 * old parts or the new ones and never a mix.
 */
export function createGenerations<G extends Retirable>(first: G, onRetireError: (err: unknown) => void): Generations<G> {
  let current = first
  const inUse = new Map<G, number>()
  const retiring = new Set<G>()
  const retire = (generation: G) => {
    retiring.delete(generation)
    Promise.resolve()
      .then(() => generation.retire())
      .catch(onRetireError)
  }
  return {
    acquire() {
      inUse.set(current, (inUse.get(current) ?? 0) + 1)
      return current
    },
    release(generation) {
      const left = (inUse.get(generation) ?? 1) - 1
      if (left > 0) return void inUse.set(generation, left)
      inUse.delete(generation)
      if (retiring.has(generation)) retire(generation)
    },
    current: () => current,
    swap(next) {
      const previous = current
      current = next
      if (inUse.has(previous)) retiring.add(previous)
      else retire(previous)
    },
    async close() {
      await current.retire()
    },
  }
}
