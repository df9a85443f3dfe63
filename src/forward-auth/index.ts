export { createForwardAuth } from './endpoint.ts'
export type { ForwardAuth, ForwardAuthDeps } from './endpoint.ts'
export { FORWARD_AUTH_PATH, isForwardAuthPath, readOriginalRequest } from './original-request.ts'
export type { DecisionCall, OriginalRequest } from './original-request.ts'
