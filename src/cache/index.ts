export { createGuardedCache } from './guarded-cache.ts'
export type { GuardedCache } from './guarded-cache.ts'
export { createSecondUseMap } from './second-use.ts'
export type { SecondUseMap } from './second-use.ts'
