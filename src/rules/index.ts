export { RouteTable, compileRoutes } from './route-table.ts'
export type { CompiledRoute, OrgIdSource, RouteMatch, RouteProblem } from './route-table.ts'
export { isReservedPath, RESERVED_PREFIX } from './reserved.ts'
