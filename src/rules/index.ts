export { RouteTable, compileRoutes } from './route-table.ts'
export type { CompiledRoute, OrgIdSource, RouteMatch, RouteProblem, RouteRule } from './route-table.ts'
export { AUTH_KINDS, CREDENTIAL_KINDS, REFUSED_METHODS } from './vocabulary.ts'
export type { AuthKind, CredentialKind } from './vocabulary.ts'
