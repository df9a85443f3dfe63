import type { NewUser, User, UserPatch } from '../store/index.ts'
import type { DirectoryContext } from './context.ts'
import { NotFoundError } from './errors.ts'

export type UserOperations = ReturnType<typeof userOperations>

/** Users: PropelAuth's user management functions, each write announced once it committed. */
export function userOperations(ctx: DirectoryContext) {
  const { store } = ctx
  const userChanged = (userId: string) => ctx.changed({ kind: 'user', userId })
  const found = (user: User | undefined, what: string): User => {
    if (user === undefined) throw new NotFoundError(`No user with ${what}`)
    return user
  }

  return {
    async create(input: NewUser): Promise<User> {
      const user = await store.createUser(input)
      userChanged(user.user_id)
      return user
    },
    get: async (userId: string) => found(await store.getUser(userId), `id ${userId}`),
    getByEmail: async (email: string) => found(await store.getUserByEmail(email), `email ${email}`),
    getByUsername: async (username: string) => found(await store.getUserByUsername(username), `username ${username}`),
    async update(userId: string, patch: UserPatch): Promise<User> {
      const user = found(await store.updateUser(userId, patch), `id ${userId}`)
      userChanged(userId)
      return user
    },
    /** Deletes the user and their memberships; the org keys they created with revoke_on_creator_leave are archived. */
    async delete(userId: string): Promise<void> {
      const memberships = await store.listUserMemberships(userId)
      if (!(await store.deleteUser(userId))) throw new NotFoundError(`No user with id ${userId}`)
      userChanged(userId)
      // Leaving every org at once: the org keys they created with revoke_on_creator_leave stop too.
      for (const { org } of memberships) {
        for (const apiKeyId of await store.archiveKeysOfDepartedCreator(org.org_id, userId, 'creator was deleted')) {
          ctx.changed({ kind: 'api_key', apiKeyId, orgId: org.org_id, userId })
        }
      }
    },
  }
}
