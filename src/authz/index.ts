export { authorize, explainAuthorization, requestOrgIdLookup, unevaluatedChecks } from './decide.ts'
export type { CheckVerdict, OrgIdLookup } from './decide.ts'
export { CHECK_CODES } from './checks.ts'
export type { CheckCode } from './checks.ts'
