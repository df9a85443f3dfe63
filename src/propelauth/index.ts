export { createPropelAuthApi } from './app.ts'
export type { PropelAuthApiDeps } from './app.ts'
