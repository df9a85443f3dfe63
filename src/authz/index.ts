export { authorize, credentialKind } from './decide.ts'
export type { OrgIdLookup } from './decide.ts'
export { createRoleTable } from './roles.ts'
export type { RoleTable } from './roles.ts'
