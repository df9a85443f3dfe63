export { createAdminApp } from './app.ts'
export type { AdminDeps, ReadinessCheck } from './app.ts'
export { AccessTokenError, toOrgMemberInfo } from '../directory/index.ts'
export type { AccessTokenIssuer, ApiKeySettings, AuditEvent, DirectoryChange } from '../directory/index.ts'
