export { createGuardedCache } from './guarded-cache.ts'
export type { GuardedCache } from './guarded-cache.ts'
