import type { DirectoryOperations } from '../directory/index.ts'

/** What the route modules share once the management API is on: the directory they translate HTTP to. */
export type ApiContext = {
  directory: DirectoryOperations
}
