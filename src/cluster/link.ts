import type { AddressInfo } from 'node:net'
import type { UsageSink } from '../apikeys/index.ts'
import type { InvalidationEvent } from '../invalidation/index.ts'
import type { MetricsSnapshot } from '../metrics/index.ts'
import type { Limiter } from '../ratelimit/index.ts'
import { converse } from './conversation.ts'
import { createRemoteLimiter } from './limits.ts'
import type { Port } from './conversation.ts'
import type { PrimaryNotices, PrimaryQuestions, WorkerNotices, WorkerQuestions, WorkerReload } from './protocol.ts'

/** How often a worker ships its usage counts to the primary at most: the primary's flush then writes them with its own. */
export const WORKER_USAGE_SHIPMENT_MS = 250

/** What a worker's gatehouse answers the primary with, once it is built. */
export type WorkerHandlers = {
  evict(change: InvalidationEvent): void
  reload(): Promise<WorkerReload>
  metrics(): Promise<MetricsSnapshot>
}

/** A worker process's link to its primary (server.workers > 1). */
export type PrimaryLink = {
  /** The primary's limiter, over IPC: one decision for all workers, so budgets stay exact. */
  limiter: Limiter
  /** Ships usage to the primary, whose flush writes it: a worker never writes usage itself. */
  usage: UsageSink
  /** Tells the primary of a change made here, for every other process to evict. */
  announce(change: InvalidationEvent): void
  /** Installs what answers the primary's questions; until then an eviction has nothing cached to evict. */
  serve(handlers: WorkerHandlers): void
  /** Tells the primary this worker serves. */
  listening(address: AddressInfo): Promise<void>
  /** Called once when the primary is gone (it exited or closed the channel): the worker should drain and exit. */
  onPrimaryGone(listener: () => void): void
}

/** The link of this process, a cluster worker, over its IPC channel. */
export function connectToPrimary(): PrimaryLink {
  let handlers: WorkerHandlers | undefined
  const gone: (() => void)[] = []
  const conversation = converse<WorkerQuestions, WorkerNotices, PrimaryQuestions, PrimaryNotices>(
    process as unknown as Port,
    {
      evict: (change) => (handlers?.evict(change), null),
      reload: () => handlers?.reload() ?? { outcome: 'failed', problems: ['the worker is still starting'], restartOnly: [] },
      metrics: () => handlers?.metrics() ?? [],
    },
    {},
  )
  process.once('disconnect', () => {
    conversation.close('the primary is gone')
    for (const listener of gone) listener()
  })
  return {
    limiter: createRemoteLimiter((asks) => conversation.ask('limits', asks)),
    usage: {
      recordApiKeyUsage: (keys) => conversation.tell('usage', { keys, subjects: [] }),
      recordSubjectUsage: (subjects) => conversation.tell('usage', { keys: [], subjects }),
    },
    announce: (change) => void conversation.tell('changed', change).catch(() => {}),
    serve: (installed) => void (handlers = installed),
    listening: (address) => conversation.tell('listening', address),
    onPrimaryGone: (listener) => void gone.push(listener),
  }
}
