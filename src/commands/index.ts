export { DIRECTORY_USAGE, runDirectoryCommand } from './manage.ts'
