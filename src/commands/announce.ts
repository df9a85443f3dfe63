import type { DirectoryChange } from '../directory/index.ts'
import { formatDuration } from '../units/index.ts'
import type { GatehouseConfig } from '../config/index.ts'
import { createRedisInvalidationPublisher, invalidationChannel } from '../invalidation/index.ts'
import { connectRedisPublisher } from '../redis-connections.ts'

/**
 * Tells running gateways of the changes a CLI command made, as the admin API does for its own:
 * with Redis, on the invalidation channel, so a disabled user or an archived key is refused from
 * the next request on; without Redis there is no one to tell, so the note on stderr says how long
 * the gateways may still honour what they have cached.
 */
export async function announceChanges(config: GatehouseConfig, changes: readonly DirectoryChange[]): Promise<void> {
  if (changes.length === 0) return
  if (!config.redis) {
    console.error(`note: ${cacheDelay(config)}; set redis.url to make changes made with the CLI take effect at once`)
    return
  }
  const publisher = await connectRedisPublisher(config.redis)
  const bus = createRedisInvalidationPublisher({ publisher, channel: invalidationChannel(config.redis.keyPrefix) })
  try {
    for (const change of changes) await bus.publish(change)
  } catch (err) {
    console.error(
      `warning: the change is made, but telling running gateways over Redis failed (${(err as Error).message}); ${cacheDelay(config)}`,
    )
  } finally {
    // Every publish has been answered (or has failed): nothing is lost, and the CLI can exit now.
    publisher.disconnect()
  }
}

function cacheDelay(config: GatehouseConfig): string {
  const tokens = formatDuration(config.tokens.cache.ttlMs)
  const keys = formatDuration(config.apiKeys.cache.ttlMs)
  return `running gateways honour this change within their cache ttl: tokens.cache.ttl (${tokens}) for access tokens, api_keys.cache.ttl (${keys}) for API keys`
}
