import cluster from 'node:cluster'
import type { Worker } from 'node:cluster'
import type { AddressInfo } from 'node:net'
import type { UsageCounter } from '../apikeys/index.ts'
import type { InvalidationEvent } from '../invalidation/index.ts'
import type { Logger } from '../log.ts'
import type { MetricsSnapshot } from '../metrics/index.ts'
import type { Limiter } from '../ratelimit/index.ts'
import { converse } from './conversation.ts'
import { answerAsks } from './limits.ts'
import type { Conversation } from './conversation.ts'
import type { PrimaryNotices, PrimaryQuestions, WorkerNotices, WorkerQuestions, WorkerReload } from './protocol.ts'

export type WorkerPoolOptions = {
  /** How many gateway processes to run (server.workers). */
  count: number
  log: Logger
  /** How long a worker may take to drain at shutdown (server.shutdown_timeout) before it is killed. */
  shutdownTimeoutMs: number
  /** The limiter of record: answers every worker's budget decisions. */
  limiter: Limiter
  /** Where the workers' usage tallies go, written by this process's flush. */
  usage: Pick<UsageCounter, 'merge'>
  /** A directory change a worker made: evict it here and announce it beyond (Redis); the pool tells the other workers. */
  onChange(change: InvalidationEvent): void
}

/** The primary's view of its gateway processes (node:cluster, one shared listener, round-robin). */
export type WorkerPool = {
  /** Forks the workers; resolves with the gateway address once every one serves, rejects when one exits first. */
  start(): Promise<AddressInfo>
  /**
   * Has every worker (but `except`, the one the change came from) evict what the change makes
   * stale, and resolves once each acknowledged it, or {@link EVICT_TIMEOUT_MS} passed for one that
   * did not (logged: a worker that stuck would serve from its cache until the entry's ttl).
   */
  evict(change: InvalidationEvent, except?: number): Promise<void>
  /** Resolves once every eviction asked so far is acknowledged (or timed out): an admin call answers after it. */
  settled(): Promise<void>
  /** Has every worker reload the config file; one report per worker. */
  reload(): Promise<WorkerReload[]>
  /** Every serving worker's metrics; a worker that does not answer in time is left out of the scrape. */
  metrics(): Promise<MetricsSnapshot[]>
  /** Workers serving now, of `count`. */
  serving(): number
  /** SIGTERM to every worker (each drains its connections), SIGKILL to one still running past the drain; no restarts from now on. */
  close(): Promise<void>
}

/** How long a worker has to acknowledge an eviction before the admin call answers without it. */
export const EVICT_TIMEOUT_MS = 1000
const METRICS_TIMEOUT_MS = 2000
/** Beyond the drain, what a worker gets to flush and exit before it is killed. */
const EXIT_GRACE_MS = 5000
/** A worker that dies sooner than this after its start waits longer before the next start (doubling up to the max). */
const STABLE_MS = 10_000
const FIRST_RESTART_DELAY_MS = 250
const MAX_RESTART_DELAY_MS = 10_000

type Member = {
  worker: Worker
  conversation: Conversation<PrimaryQuestions, PrimaryNotices>
  startedAt: number
  serving: boolean
}

export function createWorkerPool(options: WorkerPoolOptions): WorkerPool {
  const { log, limiter } = options
  const members = new Map<number, Member>()
  let stopping = false
  let restartDelay = 0
  const restarts = new Set<NodeJS.Timeout>()
  let initial: { resolve(address: AddressInfo): void; reject(err: Error): void; left: number } | undefined

  function fork(): void {
    const worker = cluster.fork()
    const conversation = converse<PrimaryQuestions, PrimaryNotices, WorkerQuestions, WorkerNotices>(
      worker,
      { limits: (asks) => answerAsks(limiter, asks) },
      {
        listening: (address) => listening(member, address),
        usage: ({ keys, subjects }) => options.usage.merge(keys, subjects),
        changed: (change) => {
          options.onChange(change)
          void evict(change, worker.id)
        },
      },
    )
    const member: Member = { worker, conversation, startedAt: Date.now(), serving: false }
    members.set(worker.id, member)
    worker.once('exit', (code: number | null, signal: NodeJS.Signals | null) => exited(member, code, signal))
  }

  function listening(member: Member, address: AddressInfo): void {
    member.serving = true
    log.info({ worker: member.worker.id, worker_pid: member.worker.process.pid }, 'worker serving')
    if (initial && --initial.left === 0) {
      initial.resolve(address)
      initial = undefined
    }
  }

  function exited(member: Member, code: number | null, signal: NodeJS.Signals | null): void {
    const { worker } = member
    member.conversation.close('the worker exited')
    members.delete(worker.id)
    if (stopping) return
    if (initial) {
      initial.reject(new Error(`worker ${worker.id} exited before it served (${signal ?? `exit code ${code}`})`))
      initial = undefined
      return
    }
    const quick = Date.now() - member.startedAt < STABLE_MS
    restartDelay = quick ? Math.min(restartDelay * 2 || FIRST_RESTART_DELAY_MS, MAX_RESTART_DELAY_MS) : 0
    log.error(
      { worker: worker.id, worker_pid: worker.process.pid, code, signal, restart_in_ms: restartDelay },
      'worker exited: starting another',
    )
    const timer = setTimeout(() => {
      restarts.delete(timer)
      if (!stopping) fork()
    }, restartDelay)
    restarts.add(timer)
  }

  /** Asks every connected worker but `except`, each answer bounded by `ms`: a worker that fails or is late answers its error. */
  function askAll<K extends keyof PrimaryQuestions & string>(
    kind: K,
    body: PrimaryQuestions[K]['ask'],
    ms: number,
    except?: number,
  ): Promise<(PrimaryQuestions[K]['reply'] | Error)[]> {
    const asked = [...members.values()].filter((m) => m.worker.id !== except && m.worker.isConnected())
    return Promise.all(
      asked.map((member) => {
        let timer: NodeJS.Timeout | undefined
        const late = new Promise<Error>((resolve) => {
          timer = setTimeout(() => resolve(new Error(`worker ${member.worker.id} did not answer ${kind} within ${ms} ms`)), ms)
        })
        const answer = member.conversation.ask(kind, body).catch((err: Error) => err)
        return Promise.race([answer, late]).finally(() => clearTimeout(timer))
      }),
    )
  }

  const evicting = new Set<Promise<void>>()
  function evict(change: InvalidationEvent, except?: number): Promise<void> {
    const asked = askAll('evict', change, EVICT_TIMEOUT_MS, except).then((answers) => {
      for (const answer of answers) {
        if (answer instanceof Error) log.warn({ err: answer.message, change: change.kind }, 'a worker did not confirm an eviction')
      }
    })
    const tracked = asked.finally(() => evicting.delete(tracked))
    evicting.add(tracked)
    return tracked
  }

  return {
    start() {
      cluster.schedulingPolicy = cluster.SCHED_RR
      return new Promise((resolve, reject) => {
        initial = { resolve, reject, left: options.count }
        for (let i = 0; i < options.count; i++) fork()
      })
    },
    evict,
    settled: async () => void (await Promise.all(evicting)),
    async reload() {
      // A reload may rebuild a verifier that fetches its keys: bounded like a start's fetch, not like an eviction.
      const answers = await askAll('reload', null, 60_000)
      return answers.map((a) => (a instanceof Error ? { outcome: 'failed', problems: [a.message], restartOnly: [] } : a))
    },
    async metrics() {
      const answers = await askAll('metrics', null, METRICS_TIMEOUT_MS)
      return answers.filter((a): a is MetricsSnapshot => !(a instanceof Error))
    },
    serving: () => [...members.values()].filter((m) => m.serving).length,
    async close() {
      stopping = true
      for (const timer of restarts) clearTimeout(timer)
      restarts.clear()
      await Promise.all([...members.values()].map(({ worker }) => stopWorker(worker, options.shutdownTimeoutMs + EXIT_GRACE_MS)))
    },
  }
}

function stopWorker(worker: Worker, killAfterMs: number): Promise<void> {
  if (worker.process.exitCode !== null || worker.process.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => worker.process.kill('SIGKILL'), killAfterMs)
    worker.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    worker.process.kill('SIGTERM')
  })
}
