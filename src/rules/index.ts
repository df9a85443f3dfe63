export { RouteTable, compileRoutes } from './route-table.ts'
export type { CompiledRoute, HandshakeCredentials, OrgIdSource, RouteMatch, RouteProblem } from './route-table.ts'
