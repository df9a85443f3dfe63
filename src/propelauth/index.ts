export { createPropelAuthApi } from './app.ts'
export type { PropelAuthApiDeps } from './app.ts'
export { API_KEY_TYPES as PROPELAUTH_API_KEY_TYPES, NO_EFFECT_FIELDS } from './schemas.ts'
export { pendingInviteView } from './views.ts'
