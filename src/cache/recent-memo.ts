/**
 * A pure function's answers for the strings it was asked about most recently, so that a hot
 * argument is computed once: two generations of at most `capacity` entries each, the older one
 * dropped whole when the newer fills (an answer found in the older one moves to the newer). No
 * bookkeeping per lookup beyond the Map's own, and at most 2 × `capacity` entries held.
 */
export function memoizeRecent<V extends NonNullable<unknown>>(compute: (input: string) => V, capacity: number): (input: string) => V {
  let current = new Map<string, V>()
  let previous = new Map<string, V>()
  return (input) => {
    const known = current.get(input)
    if (known !== undefined) return known
    const answer = previous.get(input) ?? compute(input)
    if (current.size >= capacity) {
      previous = current
      current = new Map()
    }
    current.set(input, answer)
    return answer
  }
}
