export { createLocalInvalidationBus } from './bus.ts'
export type { InvalidationBus, InvalidationEvent } from './bus.ts'
export {
  createRedisInvalidationBus,
  createRedisInvalidationPublisher,
  createInvalidationBus,
  DEFAULT_INVALIDATION_CHANNEL,
  invalidationChannel,
} from './redis.ts'
export type { RedisInvalidationBusOptions } from './redis.ts'
