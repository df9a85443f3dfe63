/**
 * The knobs of one run; `--quick` shortens every window and the memory phase and measures one round;
 * `--only` (partial) measures the named scenarios with the full run's windows and rounds.
 */
export type BenchSettings = {
  mode: 'full' | 'quick' | 'partial'
  connections: number
  /** Fewer connections for 10 MB bodies: 4 in flight already saturate loopback. */
  uploadConnections: number
  uploadBytes: number
  warmupS: number
  durationS: number
  /** jwt-cold rotates this many tokens against a 100-entry cache, so no token is ever cached. */
  coldTokens: number
  coldCacheEntries: number
  /** apikey-cold rotates this many personal keys (of coldKeyUsers users) against a coldCacheEntries-entry key cache. */
  coldKeys: number
  coldKeyUsers: number
  manyUsers: number
  memoryIdentities: number
  /** How many times the rows of the thresholded ratios are measured: each ratio is judged on its median. */
  rounds: number
}

export function benchSettings(quick: boolean, partial: boolean): BenchSettings {
  const common = {
    connections: 32,
    uploadConnections: 4,
    uploadBytes: 10 * 1024 * 1024,
    coldTokens: 3_000,
    coldCacheEntries: 100,
    coldKeys: 2_000,
    coldKeyUsers: 100,
    manyUsers: 10_000,
  }
  return quick
    ? { mode: 'quick', ...common, warmupS: 1, durationS: 3, memoryIdentities: 20_000, rounds: 1 }
    : { mode: partial ? 'partial' : 'full', ...common, warmupS: 2, durationS: 10, memoryIdentities: 100_000, rounds: 3 }
}
