export { createPagesDoor } from './door.tsx'
export type { PagesDoor, PagesDoorDeps } from './door.tsx'
export { pageEndpointOf } from './paths.ts'
export type { PageEndpoint } from './paths.ts'
