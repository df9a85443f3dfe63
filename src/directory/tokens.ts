import type { DirectoryContext } from './context.ts'
import { InvalidInputError, NotFoundError } from './errors.ts'

export type TokenOperations = ReturnType<typeof tokenOperations>

/** Access tokens for a user, from the configured issuer (tokens.local_issuer). */
export function tokenOperations(ctx: DirectoryContext) {
  const { store, tokens } = ctx
  return {
    /** Rejects with AccessTokenError when a write between these checks and the signing made the request unusable. */
    async mint(input: { userId: string; durationMinutes: number; activeOrgId?: string }): Promise<string> {
      const { userId, activeOrgId } = input
      if (tokens === undefined) throw new NotFoundError('Access-token issuing is off: set tokens.local_issuer: true')
      const user = await store.getUser(userId)
      if (user === undefined) throw new NotFoundError(`No user with id ${userId}`)
      if (!user.enabled) throw new NotFoundError(`User ${userId} is disabled; enable it first`)
      if (activeOrgId !== undefined && (await store.getMembership(activeOrgId, userId)) === undefined) {
        throw new InvalidInputError('active_org_id', `user ${userId} is not a member of org ${activeOrgId}`)
      }
      return tokens.mint(input)
    },
  }
}
