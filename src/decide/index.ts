export { createDecider } from './decide.ts'
export type { DeciderDeps } from './decide.ts'
export type { Allow, Decide, DecideOptions, Decision, DecisionRequest, Deny, DenyReason } from './types.ts'
