import type { AddressInfo } from 'node:net'
import type { KeyTally } from '../apikeys/index.ts'
import type { InvalidationEvent } from '../invalidation/index.ts'
import type { MetricsSnapshot } from '../metrics/index.ts'
import type { SubjectUsage } from '../store/index.ts'
import type { WireAnswer, WireAsk } from './limits.ts'

/** How one worker's reload went, as the primary reports it for every worker. */
export type WorkerReload = { outcome: 'applied' | 'failed'; problems: readonly string[]; restartOnly: readonly string[] }

/**
 * What a worker asks the primary: the limiter of record decides every budgeted request. The
 * requests of one event-loop turn travel together (limits.ts: the compact form), one answer each.
 */
export type WorkerQuestions = {
  limits: { ask: readonly WireAsk[]; reply: WireAnswer[] }
}

/** What a worker tells the primary, expecting no answer. */
export type WorkerNotices = {
  /** The gateway listener is up: the worker serves. */
  listening: AddressInfo
  /** Usage counted since the last shipment, for the primary's flush to write. */
  usage: { keys: readonly KeyTally[]; subjects: readonly SubjectUsage[] }
  /** A directory change made in this worker (an end-user sign-in door): every other process evicts. */
  changed: InvalidationEvent
}

/** What the primary asks each worker. */
export type PrimaryQuestions = {
  /** Evicts what the change makes stale; the answer is the acknowledgement. */
  evict: { ask: InvalidationEvent; reply: null }
  /** Reloads the config file, as SIGHUP does in a single process. */
  reload: { ask: null; reply: WorkerReload }
  /** The worker's metrics, for the primary's scrape. */
  metrics: { ask: null; reply: MetricsSnapshot }
}

/** The primary tells the workers nothing without asking. */
export type PrimaryNotices = Record<never, never>
