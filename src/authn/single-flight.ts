/**
 * One run of `work` at a time: callers that come while it runs share that run instead of starting
 * another (many tokens with an unknown kid, or an outage, must not become as many fetches).
 */
export type SingleFlight = {
  run(): Promise<void>
  /** Whether a run is under way, which a caller may join without waiting out a cooldown. */
  running(): boolean
}

export function singleFlight(work: () => Promise<void>): SingleFlight {
  let inFlight: Promise<void> | undefined
  return {
    run: () =>
      (inFlight ??= work().finally(() => {
        inFlight = undefined
      })),
    running: () => inFlight !== undefined,
  }
}
