export { DIRECTORY_USAGE, runDirectoryCommand } from './manage.ts'
export { runInit } from './init.ts'
