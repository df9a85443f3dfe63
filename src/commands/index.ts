export { DIRECTORY_USAGE, runDirectoryCommand } from './manage.ts'
export { EXPLAIN_USAGE, runExplainCommand } from './explain.ts'
export { runInit } from './init.ts'
