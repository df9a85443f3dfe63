import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { InvalidationBus, InvalidationEvent } from './bus.ts'

const DEFAULT_INVALIDATION_CHANNEL = 'gatehouse:invalidate'

export type RedisInvalidationBusOptions = {
  publisher: Redis
  /** A separate connection (e.g. `publisher.duplicate()`): a subscribed client can only subscribe. */
  subscriber: Redis
  /** Default `gatehouse:invalidate`. */
  channel?: string
  /** Called for every well-formed event published by another process. */
  onMessage: (event: InvalidationEvent) => void
  /** Called for a message that is ignored because it is malformed (optional, for logging). */
  onMalformed?: (raw: string) => void
}

type Wire = { origin: string; event: InvalidationEvent }

const OPTIONAL_IDS = ['userId', 'orgId', 'apiKeyId'] as const

function parse(raw: string): Wire | undefined {
  let data: unknown
  try {
    data = JSON.parse(raw)
  } catch {
    return undefined
  }
  if (typeof data !== 'object' || data === null) return undefined
  const { origin, event } = data as { origin?: unknown; event?: unknown }
  if (typeof origin !== 'string' || typeof event !== 'object' || event === null) return undefined
  const e = event as Record<string, unknown>
  if (typeof e.kind !== 'string' || e.kind === '') return undefined
  const out: InvalidationEvent = { kind: e.kind }
  for (const field of OPTIONAL_IDS) {
    const v = e[field]
    if (v === undefined) continue
    if (typeof v !== 'string') return undefined
    out[field] = v
  }
  return { origin, event: out }
}

/** The channel of a config's `redis.key_prefix`: the gateways listen on it, the CLI publishes on it. */
export function invalidationChannel(keyPrefix: string): string {
  return `${keyPrefix}invalidate`
}

function publishOn(publisher: Redis, channel: string, origin: string): InvalidationBus['publish'] {
  return async (event) => {
    const wire: Wire = { origin, event }
    await publisher.publish(channel, JSON.stringify(wire))
  }
}

/**
 * Tells the replicas of changes and hears nothing: for a process that makes changes but caches
 * nothing (the CLI). The caller owns the client.
 */
export function createRedisInvalidationPublisher(options: { publisher: Redis; channel?: string }): InvalidationBus {
  return {
    publish: publishOn(options.publisher, options.channel ?? DEFAULT_INVALIDATION_CHANNEL, randomUUID()),
    close: async () => {},
  }
}

/**
 * Invalidation over Redis pub/sub. Each bus has a random origin id, so a replica ignores its own
 * messages; malformed messages are dropped. Pub/sub is at-most-once: a replica disconnected while
 * a message is sent misses it, so cache TTLs remain the backstop. The caller owns both clients.
 */
export function createRedisInvalidationBus(options: RedisInvalidationBusOptions): InvalidationBus & {
  /** Resolves once the subscription is active. */
  ready: Promise<void>
  origin: string
} {
  const { publisher, subscriber, onMessage, onMalformed } = options
  const channel = options.channel ?? DEFAULT_INVALIDATION_CHANNEL
  const origin = randomUUID()

  const listener = (ch: string, raw: string): void => {
    if (ch !== channel) return
    const wire = parse(raw)
    if (!wire) {
      try {
        onMalformed?.(raw)
      } catch {
        // never crash on a listener
      }
      return
    }
    if (wire.origin === origin) return
    try {
      onMessage(wire.event)
    } catch {
      // a throwing handler must not kill the subscription
    }
  }
  subscriber.on('message', listener)
  const ready = subscriber.subscribe(channel).then(() => undefined)
  // Surface subscribe failures through `ready` only; never as an unhandled rejection.
  ready.catch(() => {})

  return {
    origin,
    ready,
    publish: publishOn(publisher, channel, origin),
    async close(): Promise<void> {
      subscriber.off('message', listener)
      if (subscriber.status === 'ready') await subscriber.unsubscribe(channel).catch(() => {})
    },
  }
}
