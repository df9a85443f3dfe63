export { authorize, credentialKind } from './decide.ts'
export type { OrgIdLookup } from './decide.ts'
