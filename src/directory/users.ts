import type { NewUser, User, UserPatch } from '../store/index.ts'
import type { DirectoryContext } from './context.ts'
import { InvalidInputError, LoginRefusedError, NotFoundError } from './errors.ts'
import { checkImportedHash, checkPasswordRules, dummyHash, hashPassword, needsRehash, verifyPassword } from './passwords.ts'

export type UserOperations = ReturnType<typeof userOperations>

/** A new user as the front ends give it: a password in the clear, or a hash imported from another system. */
export type NewUserInput = Omit<NewUser, 'password_hash'> & { password?: string; existing_password_hash?: string }

/** Users: PropelAuth's user management functions, each write announced once it committed. */
export function userOperations(ctx: DirectoryContext) {
  const { store } = ctx
  const userChanged = (userId: string) => ctx.changed({ kind: 'user', userId })
  const found = (user: User | undefined, what: string): User => {
    if (user === undefined) throw new NotFoundError(`No user with ${what}`)
    return user
  }
  const passwordHashOf = async (input: NewUserInput): Promise<string | null> => {
    if (input.password !== undefined && input.existing_password_hash !== undefined) {
      throw new InvalidInputError('existing_password_hash', 'send a password or an existing_password_hash, not both')
    }
    if (input.password !== undefined) {
      checkPasswordRules(input.password)
      return hashPassword(input.password)
    }
    return input.existing_password_hash === undefined ? null : checkImportedHash(input.existing_password_hash, 'existing_password_hash')
  }
  const setHash = async (userId: string, hash: string | null, updateRequired?: boolean): Promise<User> => {
    const user = found(await store.setPasswordHash(userId, { hash, update_password_required: updateRequired }), `id ${userId}`)
    userChanged(userId)
    return user
  }

  return {
    async create(input: NewUserInput): Promise<User> {
      const { password: _, existing_password_hash: __, ...record } = input
      const user = await store.createUser({ ...record, password_hash: await passwordHashOf(input) })
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
    /** Sets or replaces the password; `askToUpdate` sets update_password_required (absent: unchanged). */
    async setPassword(userId: string, password: string, askToUpdate?: boolean): Promise<User> {
      checkPasswordRules(password)
      return setHash(userId, await hashPassword(password), askToUpdate)
    },
    /** A hash from another system (PropelAuth's migrate_user_password), verified at login and then rehashed. */
    async importPasswordHash(userId: string, hash: string): Promise<User> {
      return setHash(userId, checkImportedHash(hash, 'password_hash'))
    },
    async clearPassword(userId: string): Promise<User> {
      return setHash(userId, null, false)
    },
    /**
     * The user this email and password sign in, or LoginRefusedError. Every refusal costs one
     * verification of a hash with the current parameters, so its timing does not tell an unknown
     * email from a wrong password; a disabled user is refused after the check, with the same error
     * the caller answers for all of them.
     */
    async checkPassword(email: string, password: string): Promise<User> {
      const stored = await store.getPasswordHashByEmail(email)
      const hash = stored?.password_hash ?? null
      if (stored === undefined || hash === null) {
        await verifyPassword(await dummyHash(), password)
        throw new LoginRefusedError(stored === undefined ? 'unknown_email' : 'no_password')
      }
      if (!(await verifyPassword(hash, password))) throw new LoginRefusedError('wrong_password')
      if (!stored.user.enabled) throw new LoginRefusedError('disabled')
      if (needsRehash(hash)) {
        // Compare-and-set on the verified hash: a password set meanwhile is not overwritten.
        await store.setPasswordHash(stored.user.user_id, { hash: await hashPassword(password), expected: hash })
      }
      return stored.user
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
