export type { LimitDecision, Limiter } from './limiter.ts'
export { createMemoryLimiter } from './memory.ts'
export type { MemoryLimiter, MemoryLimiterOptions } from './memory.ts'
export { rateLimitHeaders } from './headers.ts'
