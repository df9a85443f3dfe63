export { createAdminApp } from './app.ts'
export type { AdminDeps, ReadinessCheck } from './app.ts'
export { adminDepsOf } from './app.ts'
