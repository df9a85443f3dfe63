import { sleep } from './children.ts'
import { sendEachOnce } from './load.ts'
import { sampleTree } from './proc.ts'
import { expectAll } from './scenarios.ts'
import type { Target } from './targets/launch.ts'

/** gatehouse's memory once it holds `identities` distinct verified tokens (and their rate-limit keys). */
export type MemoryPhase = {
  identities: number
  elapsedS: number
  rssMB: { start: number; end: number; peak: number }
  /** A full run repeats the phase in fresh processes and reports the median round: every round's RSS at its end, in order. */
  endEachRoundMB?: number[]
}

/**
 * The round whose end RSS is the median, with every round's end beside it: RSS one second after a
 * burst depends on when V8 last collected, and one round on a busy machine measured 445 MB where
 * the next two measured 223 and 238.
 */
export function medianRound(rounds: readonly MemoryPhase[]): MemoryPhase {
  if (rounds.length === 0) throw new Error('no memory round was measured')
  const sorted = [...rounds].sort((a, b) => a.rssMB.end - b.rssMB.end)
  return { ...sorted[Math.floor((sorted.length - 1) / 2)]!, endEachRoundMB: rounds.map((r) => r.rssMB.end) }
}

// Lets buffers of the last responses be released before RSS is read; the GC is not forced.
const SETTLE_MS = 1000

export async function memoryPhase(target: Target, path: string, tokens: readonly string[], connections: number): Promise<MemoryPhase> {
  const before = sampleTree(target.pid)
  const started = Date.now()
  const sent = await sendEachOnce(target.origin, path, tokens, connections)
  expectAll(sent.statusCounts, 200, tokens.length, 'memory phase')
  const elapsedS = (Date.now() - started) / 1000
  await sleep(SETTLE_MS)
  const after = sampleTree(target.pid)
  return {
    identities: tokens.length,
    elapsedS,
    rssMB: { start: before.rssKb / 1024, end: after.rssKb / 1024, peak: after.hwmKb / 1024 },
  }
}
