import type { Redis } from 'ioredis'
import type { Logger } from './log.ts'

type RedisConnections = {
  /** Commands (rate limits, publishing). */
  client: Redis
  /** A second connection: a subscribed Redis connection can do nothing else. */
  subscriber: Redis
  /** Resolves true once the command connection is ready, false if it is not within `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>
  close(): Promise<void>
}

/**
 * The Redis connections of one gatehouse. Commands fail fast while disconnected (no offline
 * queue, one retry): the rate limiter's breaker opens on the spot instead of queueing decisions
 * behind a reconnect; ioredis keeps reconnecting in the background on its own. No
 * `commandTimeout`: the limiter bounds its own wait (`redis.timeout`), and a late answer still
 * lands in Redis, so it is charged rather than lost.
 */
export async function connectRedis(config: { url: string }, log: Logger): Promise<RedisConnections> {
  const Redis = await loadRedis()
  const options = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
  }
  const client = new Redis(config.url, options)
  // The subscriber must queue its SUBSCRIBE until connected, and replays it after reconnects.
  const subscriber = new Redis(config.url, { ...options, enableOfflineQueue: true, maxRetriesPerRequest: null })
  let reported = false
  const onError = (err: Error) => {
    // ioredis emits an error per failed reconnect; one line per outage is enough.
    if (!reported) log.warn({ err: err.message }, 'Redis connection error')
    reported = true
  }
  client.on('error', onError)
  subscriber.on('error', onError)
  client.on('ready', () => {
    reported = false
  })
  return {
    client,
    subscriber,
    ready: (timeoutMs) =>
      new Promise<boolean>((resolve) => {
        if (client.status === 'ready') return resolve(true)
        const done = (ok: boolean) => {
          clearTimeout(timer)
          client.off('ready', onReady)
          resolve(ok)
        }
        const onReady = () => done(true)
        const timer = setTimeout(() => done(false), timeoutMs)
        client.on('ready', onReady)
      }),
    close: async () => {
      client.disconnect()
      subscriber.disconnect()
    },
  }
}

/**
 * One connection for a short-lived process that only publishes (the CLI): its commands wait for
 * the connection instead of failing at once, and a Redis that cannot be reached fails them within
 * `connectTimeoutMs` instead of being retried forever.
 */
export async function connectRedisPublisher(config: { url: string }, connectTimeoutMs = 2000): Promise<Redis> {
  const Redis = await loadRedis()
  const client = new Redis(config.url, { connectTimeout: connectTimeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null })
  // The failure reaches the caller through its command; without a listener ioredis would print it too.
  client.on('error', () => {})
  return client
}

// Loaded only where Redis is configured: a gateway without it never compiles ioredis' modules.
async function loadRedis(): Promise<typeof Redis> {
  return (await import('ioredis')).Redis
}
