import type { DirectoryOperations } from '../directory/index.ts'

/** What the PropelAuth-compatible routes translate to: the directory, and whether gatehouse signs tokens. */
export type PropelAuthContext = {
  directory: DirectoryOperations
  /** Whether an access-token issuer is configured (tokens.local_issuer). */
  issuesTokens: boolean
}
