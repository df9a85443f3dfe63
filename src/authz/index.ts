export { authorize } from './decide.ts'
export type { OrgIdLookup } from './decide.ts'
