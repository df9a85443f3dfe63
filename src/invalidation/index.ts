export { createLocalInvalidationBus } from './bus.ts'
export type { InvalidationBus, InvalidationEvent } from './bus.ts'
export { createRedisInvalidationBus, createRedisInvalidationPublisher, invalidationChannel } from './redis.ts'
export type { RedisInvalidationBusOptions } from './redis.ts'
