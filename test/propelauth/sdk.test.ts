import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import * as current from '@propelauth/node'
import * as legacy from 'propelauth-node-legacy'
import pg from 'pg'
import { startGateway, TEST_ROLES } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { freePort, serviceUrl } from '../support/services.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'
import { redirectPropelAuthHost } from './redirect.ts'

/**
 * gatehouse driven only through PropelAuth's own Node SDK, as a team moving from PropelAuth would:
 * `initBaseAuth({ authUrl: <admin listener>, apiKey: <admin key> })`. Every function runs with
 * the current SDK (2.1.36, which calls PropelAuth's fixed host with X-Propelauth-url; that host
 * is redirected to the admin listener in-process) and with the newest one that calls authUrl
 * itself (propelauth-node-legacy: 2.1.26 over node-apis 2.1.29).
 */

const ADMIN_KEY = 'propelauth-compat-admin-key-0123456789'
const USER_BUDGET = 8

type Sdk = typeof current
type Auth = ReturnType<Sdk['initBaseAuth']>

const VARIANTS: { name: string; sdk: Sdk; current: boolean }[] = [
  { name: '@propelauth/node 2.1.36 (fixed host, X-Propelauth-url)', sdk: current, current: true },
  { name: 'propelauth-node-legacy 2.1.26 (authUrl)', sdk: legacy as unknown as Sdk, current: false },
]

let gateway: TestGateway
let upstream: TestUpstream
let authUrl: string
let restoreFetch: () => void
let serial = 0
const unique = (what: string) => `${what}-${process.pid}-${++serial}`
const email = (what: string) => `${unique(what)}@example.com`

const postgres = serviceUrl('POSTGRES')
const schema = `gh_propelauth_${randomBytes(4).toString('hex')}`
const ENGINES: { name: string; skip?: string; url(): Promise<string>; drop?(): Promise<void> }[] = [
  { name: 'SQLite', url: async () => 'sqlite:./gatehouse.db' },
  {
    name: 'PostgreSQL',
    skip: postgres.skip,
    url: async () => {
      const url = new URL(postgres.url!)
      url.searchParams.set('schema', schema)
      return url.href
    },
    drop: async () => {
      const client = new pg.Client({ connectionString: postgres.url })
      await client.connect()
      await client.query(`drop schema if exists ${schema} cascade`)
      await client.end()
    },
  },
]

for (const engine of ENGINES) {
  describe(`over ${engine.name}`, { skip: engine.skip }, () => {
    before(async () => {
      upstream = await startUpstream()
      const port = await freePort()
      authUrl = `http://127.0.0.1:${port}`
      gateway = await startGateway({
        admin: { listen: `127.0.0.1:${port}`, api_key: ADMIN_KEY },
        upstream: { url: upstream.url },
        store: { url: await engine.url() },
        roles: TEST_ROLES,
        // PropelAuth's SDKs take the issuer to be the auth URL's origin and verify RS256 only.
        tokens: { local_issuer: { issuer: authUrl, algorithm: 'RS256' } },
        end_users: { enabled: true, public_url: 'https://app.example.com' },
        rate_limits: { user: `${USER_BUDGET}/1m`, org: `${USER_BUDGET}/1m` },
        api_keys: { usage_flush: '100ms' },
        routes: [
          { path: '/orgs/:org_id/admin', auth: 'org_member', role: 'Admin' },
          { path: '/orgs/:org_id/billing', auth: 'org_member', permission: 'can_view_billing' },
        ],
      })
      restoreFetch = await redirectPropelAuthHost(authUrl)
    })

    after(async () => {
      restoreFetch?.()
      await gateway?.close()
      await upstream?.close()
      await engine.drop?.()
    })

    for (const variant of VARIANTS) {
      describe(variant.name, () => {
        const { sdk } = variant
        let auth: Auth
        before(() => {
          auth = sdk.initBaseAuth({ authUrl, apiKey: ADMIN_KEY })
        })

        const newUser = async (what: string, extra: Partial<Parameters<Auth['createUser']>[0]> = {}) =>
          (await auth.createUser({ email: email(what), emailConfirmed: true, ...extra })).userId
        const newOrg = async (what: string) => (await auth.createOrg({ name: unique(what) })).orgId
        const member = async (orgId: string, userId: string, role: string) =>
          assert.equal(await auth.addUserToOrg({ orgId, userId, role }), true)

        it('refuses a wrong apiKey', async () => {
          const wrong = sdk.initBaseAuth({ authUrl, apiKey: 'not-the-admin-key-not-the-admin-key' })
          // Its token verification metadata cannot be fetched either, so it verifies no token.
          const verifying = assert.rejects(wrong.validateAccessTokenAndGetUser('Bearer x'), sdk.UnexpectedException)
          await assert.rejects(wrong.fetchUserMetadataByEmail('nobody@example.com'), /integrationApiKey is incorrect/)
          await verifying
        })

        describe('users', () => {
          it('createUser and fetchUserMetadataByUserId answer the SDK’s camelCase user', async () => {
            const address = email('ada')
            const { userId } = await auth.createUser({
              email: address,
              emailConfirmed: true,
              username: unique('ada'),
              firstName: 'Ada',
              lastName: 'L',
            })
            const user = await auth.fetchUserMetadataByUserId(userId)
            assert.ok(user)
            assert.equal(user.userId, userId)
            assert.equal(user.email, address)
            assert.equal(user.emailConfirmed, true)
            assert.equal(user.firstName, 'Ada')
            assert.equal(user.lastName, 'L')
            assert.equal(user.hasPassword, false)
            assert.equal(user.enabled, true)
            assert.equal(user.locked, false)
            assert.equal(typeof user.createdAt, 'number')
            assert.equal(user.orgIdToOrgInfo, undefined)
            assert.equal(await auth.fetchUserMetadataByUserId('00000000-0000-4000-8000-000000000000'), null)
          })

          it('createUser with a password: hasPassword, and a short one is CreateUserException naming password', async () => {
            const { userId } = await auth.createUser({ email: email('pw'), password: 'correct horse battery staple' })
            assert.equal((await auth.fetchUserMetadataByUserId(userId))?.hasPassword, true)
            await assert.rejects(
              auth.createUser({ email: email('pw'), password: 'short' }),
              (err: unknown) => err instanceof sdk.CreateUserException && 'password' in err.fieldToErrors,
            )
            await assert.rejects(
              auth.createUser({ email: 'not-an-email' }),
              (err: unknown) => err instanceof sdk.CreateUserException && 'email' in err.fieldToErrors,
            )
          })

          it('fetchUserMetadataByUserId with includeOrgs gives OrgMemberInfo objects with role checks', async () => {
            const userId = await newUser('orgs')
            const orgId = await newOrg('orgs')
            await member(orgId, userId, 'Admin')
            const user = await auth.fetchUserMetadataByUserId(userId, true)
            const info = user?.orgIdToOrgInfo?.[orgId]
            assert.ok(info instanceof sdk.OrgMemberInfo)
            assert.equal(info.userAssignedRole, 'Admin')
            assert.deepEqual(info.userInheritedRolesPlusCurrentRole, ['Admin', 'Member'])
            assert.equal(info.isAtLeastRole('Member'), true)
            assert.equal(info.isAtLeastRole('Owner'), false)
            assert.equal(info.hasPermission('can_manage_api_keys'), true)
          })

          it('fetchUserMetadataByEmail and fetchUserMetadataByUsername (null when absent)', async () => {
            const address = email('by')
            const username = unique('by')
            const userId = await newUser('ignored', { email: address, username })
            assert.equal((await auth.fetchUserMetadataByEmail(address.toUpperCase()))?.userId, userId)
            assert.equal((await auth.fetchUserMetadataByUsername(username))?.userId, userId)
            assert.equal(await auth.fetchUserMetadataByEmail(email('absent')), null)
            assert.equal(await auth.fetchUserMetadataByUsername(unique('absent')), null)
          })

          it('fetchBatchUserMetadataByUserIds, ByEmails and ByUsernames key the found users', async () => {
            const a = { email: email('batch-a'), username: unique('batch-a') }
            const b = { email: email('batch-b'), username: unique('batch-b') }
            const idA = await newUser('x', a)
            const idB = await newUser('x', b)
            const byId = await auth.fetchBatchUserMetadataByUserIds([idA, idB, '00000000-0000-4000-8000-000000000000'])
            assert.deepEqual(Object.keys(byId).sort(), [idA, idB].sort())
            assert.equal(byId[idA]?.email, a.email)
            const byEmail = await auth.fetchBatchUserMetadataByEmails([a.email, b.email])
            assert.deepEqual(Object.keys(byEmail).sort(), [a.email, b.email].sort())
            const byUsername = await auth.fetchBatchUserMetadataByUsernames([b.username])
            assert.equal(byUsername[b.username]?.userId, idB)
          })

          it('fetchUsersByQuery pages and filters', async () => {
            const tag = unique('query')
            for (const n of [1, 2, 3]) await newUser('x', { email: `${tag}-${n}@example.com` })
            const page = await auth.fetchUsersByQuery({ emailOrUsername: tag, pageSize: 2, orderBy: 'EMAIL' })
            assert.equal(page.totalUsers, 3)
            assert.equal(page.pageSize, 2)
            assert.equal(page.currentPage, 0)
            assert.equal(page.hasMoreResults, true)
            assert.deepEqual(
              page.users.map((u) => u.email),
              [`${tag}-1@example.com`, `${tag}-2@example.com`],
            )
            const last = await auth.fetchUsersByQuery({ emailOrUsername: tag, pageSize: 2, pageNumber: 1, orderBy: 'EMAIL' })
            assert.equal(last.hasMoreResults, false)
            assert.equal(last.users.length, 1)
          })

          it('fetchUsersInOrg lists members, with a role filter', async () => {
            const orgId = await newOrg('members')
            const owner = await newUser('owner')
            const plain = await newUser('plain')
            await member(orgId, owner, 'Owner')
            await member(orgId, plain, 'Member')
            const all = await auth.fetchUsersInOrg({ orgId })
            assert.equal(all.totalUsers, 2)
            assert.deepEqual(all.users.map((u) => u.userId).sort(), [owner, plain].sort())
            assert.equal(all.users.find((u) => u.userId === owner)?.roleInOrg, 'Owner')
            const owners = await auth.fetchUsersInOrg({ orgId, role: 'Owner' })
            assert.deepEqual(
              owners.users.map((u) => u.userId),
              [owner],
            )
          })

          it('updateUserMetadata changes the profile; false for an unknown user', async () => {
            const userId = await newUser('update')
            assert.equal(
              await auth.updateUserMetadata(userId, { firstName: 'Grace', metadata: { plan: 'pro' }, properties: { tz: 'UTC' } }),
              true,
            )
            const user = await auth.fetchUserMetadataByUserId(userId)
            assert.equal(user?.firstName, 'Grace')
            assert.deepEqual(user?.metadata, { plan: 'pro' })
            assert.deepEqual(user?.properties, { tz: 'UTC' })
            assert.equal(await auth.updateUserMetadata('00000000-0000-4000-8000-000000000000', { firstName: 'x' }), false)
            await assert.rejects(
              auth.updateUserMetadata(userId, { pictureUrl: 'not a url' }),
              (err: unknown) => err instanceof sdk.UpdateUserMetadataException && 'picture_url' in err.fieldToErrors,
            )
          })

          it('updateUserEmail; a taken email is an UpdateUserEmailException', async () => {
            const userId = await newUser('email')
            const taken = email('taken')
            await newUser('x', { email: taken })
            const fresh = email('fresh')
            assert.equal(await auth.updateUserEmail(userId, { newEmail: fresh, requireEmailConfirmation: true }), true)
            const user = await auth.fetchUserMetadataByUserId(userId)
            assert.equal(user?.email, fresh)
            assert.equal(user?.emailConfirmed, false)
            await assert.rejects(
              auth.updateUserEmail(userId, { newEmail: taken, requireEmailConfirmation: false }),
              (err: unknown) => err instanceof sdk.UpdateUserEmailException && 'new_email' in err.fieldToErrors,
            )
          })

          it('migrateUserFromExternalSource keeps the old id as legacyUserId; a password hash is refused', async () => {
            const legacyId = unique('legacy')
            const { userId } = await auth.migrateUserFromExternalSource({
              email: email('migrated'),
              emailConfirmed: true,
              existingUserId: legacyId,
              firstName: 'Mig',
              enabled: false,
            })
            const user = await auth.fetchUserMetadataByUserId(userId)
            assert.equal(user?.legacyUserId, legacyId)
            assert.equal(user?.enabled, false)
            const found = await auth.fetchUsersByQuery({ legacyUserId: legacyId } as never)
            assert.deepEqual(
              found.users.map((u: { userId: string }) => u.userId),
              [userId],
            )
            await assert.rejects(
              auth.migrateUserFromExternalSource({ email: email('hash'), emailConfirmed: true, existingPasswordHash: '$2b$10$abc' }),
              (err: unknown) => err instanceof sdk.MigrateUserException && 'existing_password_hash' in err.fieldToErrors,
            )
          })

          it('disableUser and enableUser', async () => {
            const userId = await newUser('disable')
            assert.equal(await auth.disableUser(userId), true)
            assert.equal((await auth.fetchUserMetadataByUserId(userId))?.locked, true)
            assert.equal(await auth.enableUser(userId), true)
            assert.equal((await auth.fetchUserMetadataByUserId(userId))?.enabled, true)
            assert.equal(await auth.disableUser('00000000-0000-4000-8000-000000000000'), false)
          })

          it('enableUserCanCreateOrgs and disableUserCanCreateOrgs', async () => {
            const userId = await newUser('cco')
            assert.equal(await auth.enableUserCanCreateOrgs(userId), true)
            assert.equal((await auth.fetchUserMetadataByUserId(userId))?.canCreateOrgs, true)
            assert.equal(await auth.disableUserCanCreateOrgs(userId), true)
            assert.equal((await auth.fetchUserMetadataByUserId(userId))?.canCreateOrgs, false)
            assert.equal(await auth.enableUserCanCreateOrgs('00000000-0000-4000-8000-000000000000'), false)
          })

          it('deleteUser; false the second time', async () => {
            const userId = await newUser('delete')
            assert.equal(await auth.deleteUser(userId), true)
            assert.equal(await auth.fetchUserMetadataByUserId(userId), null)
            assert.equal(await auth.deleteUser(userId), false)
          })
        })

        describe('orgs', () => {
          it('createOrg and fetchOrg', async () => {
            const name = unique('Acme Org')
            const created = await auth.createOrg({ name, maxUsers: 5, domain: 'acme.example', enableAutoJoiningByDomain: true })
            assert.equal(created.name, name)
            const org = await auth.fetchOrg(created.orgId)
            assert.ok(org)
            assert.equal(org.orgId, created.orgId)
            assert.equal(org.name, name)
            assert.equal(org.maxUsers, 5)
            assert.equal(org.domain, 'acme.example')
            assert.equal(org.domainAutojoin, true)
            assert.equal(org.canSetupSaml, false)
            assert.equal(await auth.fetchOrg('00000000-0000-4000-8000-000000000000'), null)
            await assert.rejects(
              auth.createOrg({ name: unique('legacy org'), legacyOrgId: 'old-1' }),
              (err: unknown) => err instanceof sdk.CreateOrgException && 'legacy_org_id' in err.fieldToErrors,
            )
          })

          it('fetchOrgByQuery pages by name and orders by LAST_ACTIVE_AT', async () => {
            const tag = unique('query-org')
            // Times are in seconds: a member active a second after the newer org was created makes the older org the more recently active one.
            const aSecond = () => new Promise((r) => setTimeout(r, 1100))
            const busy = (await auth.createOrg({ name: `${tag} busy` })).orgId
            await aSecond()
            const quiet = (await auth.createOrg({ name: `${tag} quiet` })).orgId
            await aSecond()
            await member(busy, await newUser('active'), 'Member')
            const byCreation = await auth.fetchOrgByQuery({ name: tag, orderBy: 'CREATED_AT_DESC' })
            assert.deepEqual(
              byCreation.orgs.map((o) => o.orgId),
              [quiet, busy],
            )
            const page = await auth.fetchOrgByQuery({ name: tag, pageSize: 10, orderBy: 'LAST_ACTIVE_AT_DESC' as 'NAME' })
            assert.equal(page.totalOrgs, 2)
            assert.equal(page.hasMoreResults, false)
            assert.deepEqual(
              page.orgs.map((o) => o.orgId),
              [busy, quiet],
            )
            assert.equal(page.orgs[0]?.name, `${tag} busy`)
            const byName = await auth.fetchOrgByQuery({ name: tag, orderBy: 'NAME', pageSize: 1 })
            assert.equal(byName.orgs[0]?.orgId, busy)
            assert.equal(byName.hasMoreResults, true)
          })

          it('updateOrg (can_setup_saml stored); false for an unknown org', async () => {
            const orgId = await newOrg('update')
            assert.equal(
              await auth.updateOrg({ orgId, name: unique('Renamed'), metadata: { tier: 'gold' }, maxUsers: 3, canSetupSaml: true }),
              true,
            )
            const org = await auth.fetchOrg(orgId)
            assert.equal(org?.maxUsers, 3)
            assert.deepEqual(org?.metadata, { tier: 'gold' })
            assert.equal(org?.canSetupSaml, true)
            assert.equal(await auth.updateOrg({ orgId: '00000000-0000-4000-8000-000000000000', name: 'x' }), false)
            // A field gatehouse does not implement is refused by name (the legacy SDK has no extraDomains).
            if (variant.current) {
              await assert.rejects(
                auth.updateOrg({ orgId, extraDomains: ['other.example'] } as never),
                (err: unknown) => err instanceof sdk.UpdateOrgException && 'extra_domains' in err.fieldToErrors,
              )
            }
          })

          it('addUserToOrg past maxUsers is an AddUserToOrgException', async () => {
            const { orgId } = await auth.createOrg({ name: unique('full'), maxUsers: 1 })
            await member(orgId, await newUser('first'), 'Member')
            await assert.rejects(
              auth.addUserToOrg({ orgId, userId: await newUser('second'), role: 'Member' }),
              (err: unknown) => err instanceof sdk.AddUserToOrgException && 'org_id' in err.fieldToErrors,
            )
          })

          it('allowOrgToSetupSamlConnection and disallowOrgToSetupSamlConnection', async () => {
            const orgId = await newOrg('saml')
            assert.equal(await auth.allowOrgToSetupSamlConnection(orgId), true)
            assert.equal((await auth.fetchOrg(orgId))?.canSetupSaml, true)
            assert.equal(await auth.disallowOrgToSetupSamlConnection(orgId), true)
            assert.equal((await auth.fetchOrg(orgId))?.canSetupSaml, false)
            assert.equal(await auth.allowOrgToSetupSamlConnection('00000000-0000-4000-8000-000000000000'), false)
          })

          it('deleteOrg; false the second time', async () => {
            const orgId = await newOrg('delete')
            assert.equal(await auth.deleteOrg(orgId), true)
            assert.equal(await auth.fetchOrg(orgId), null)
            assert.equal(await auth.deleteOrg(orgId), false)
          })

          it('addUserToOrg, changeUserRoleInOrg, removeUserFromOrg', async () => {
            const orgId = await newOrg('roles')
            const userId = await newUser('roles')
            assert.equal(await auth.addUserToOrg({ orgId, userId, role: 'Member' }), true)
            await assert.rejects(
              auth.addUserToOrg({ orgId, userId, role: 'Member' }),
              (err: unknown) => err instanceof sdk.AddUserToOrgException && 'user_id' in err.fieldToErrors,
            )
            await assert.rejects(
              auth.changeUserRoleInOrg({ orgId, userId, role: 'Emperor' }),
              (err: unknown) => err instanceof sdk.ChangeUserRoleInOrgException && 'role' in err.fieldToErrors,
            )
            assert.equal(await auth.changeUserRoleInOrg({ orgId, userId, role: 'Owner' }), true)
            const info = (await auth.fetchUserMetadataByUserId(userId, true))?.orgIdToOrgInfo?.[orgId]
            assert.equal(info?.userAssignedRole, 'Owner')
            assert.equal(await auth.removeUserFromOrg({ orgId, userId }), true)
            assert.equal(await auth.removeUserFromOrg({ orgId, userId }), false)
            assert.equal(await auth.addUserToOrg({ orgId: '00000000-0000-4000-8000-000000000000', userId, role: 'Member' }), false)
          })
        })

        describe('access tokens', () => {
          it('createAccessToken: validateAccessTokenAndGetUser verifies it offline with the fetched key', async () => {
            const userId = await newUser('token', { firstName: 'Tok' })
            const orgId = await newOrg('token')
            await member(orgId, userId, 'Admin')
            const { access_token: accessToken } = await auth.createAccessToken({ userId, durationInMinutes: 10 })
            const user = await auth.validateAccessTokenAndGetUser(`Bearer ${accessToken}`)
            assert.equal(user.userId, userId)
            assert.equal(user.firstName, 'Tok')
            assert.equal(user.loginMethod?.loginMethod, 'generated_from_backend_api')
            const info = user.orgIdToOrgMemberInfo?.[orgId]
            assert.ok(info instanceof sdk.OrgMemberInfo)
            assert.equal(info.isAtLeastRole('Member'), true)
            await assert.rejects(auth.validateAccessTokenAndGetUser(`Bearer ${accessToken}x`), sdk.UnauthorizedException)
            await assert.rejects(auth.validateAccessTokenAndGetUser(undefined), sdk.UnauthorizedException)
          })

          it('validateAccessTokenAndGetUserWithOrgInfo and its role and permission checks', async () => {
            const userId = await newUser('roles-token')
            const orgId = await newOrg('roles-token')
            const otherOrg = await newOrg('roles-other')
            await member(orgId, userId, 'Admin')
            const { access_token: accessToken } = await auth.createAccessToken({ userId, durationInMinutes: 10 })
            const header = `Bearer ${accessToken}`
            const { user, orgMemberInfo } = await auth.validateAccessTokenAndGetUserWithOrgInfo(header, { orgId })
            assert.equal(user.userId, userId)
            assert.equal(orgMemberInfo.userAssignedRole, 'Admin')
            assert.ok(await auth.validateAccessTokenAndGetUserWithOrgInfoWithMinimumRole(header, { orgId }, 'Member'))
            assert.ok(await auth.validateAccessTokenAndGetUserWithOrgInfoWithExactRole(header, { orgId }, 'Admin'))
            assert.ok(await auth.validateAccessTokenAndGetUserWithOrgInfoWithPermission(header, { orgId }, 'can_manage_api_keys'))
            assert.ok(await auth.validateAccessTokenAndGetUserWithOrgInfoWithAllPermissions(header, { orgId }, ['can_manage_api_keys']))
            const asClass = await auth.validateAccessTokenAndGetUserClass(header)
            assert.ok(asClass instanceof sdk.UserClass)
            assert.equal(asClass.isAtLeastRole(orgId, 'Member'), true)
            assert.equal(asClass.isRole(orgId, 'Owner'), false)
            await assert.rejects(
              auth.validateAccessTokenAndGetUserWithOrgInfoWithMinimumRole(header, { orgId }, 'Owner'),
              sdk.ForbiddenException,
            )
            await assert.rejects(
              auth.validateAccessTokenAndGetUserWithOrgInfoWithPermission(header, { orgId }, 'can_view_billing'),
              sdk.ForbiddenException,
            )
            await assert.rejects(auth.validateAccessTokenAndGetUserWithOrgInfo(header, { orgId: otherOrg }), sdk.ForbiddenException)
          })

          it('the same token passes the gateway’s org-role rules (one issuer, one truth)', async () => {
            const userId = await newUser('gateway')
            const orgId = await newOrg('gateway')
            await member(orgId, userId, 'Admin')
            const { access_token: accessToken } = await auth.createAccessToken({ userId, durationInMinutes: 10 })
            const call = (path: string) => fetch(gateway.url + path, { headers: { authorization: `Bearer ${accessToken}` } })
            const admitted = await call(`/orgs/${orgId}/admin`)
            assert.equal(admitted.status, 200)
            assert.equal(upstream.last().headers['x-gatehouse-user-id'], userId)
            assert.equal(upstream.last().headers['x-gatehouse-org-role'], 'Admin')
            assert.equal((await call(`/orgs/${orgId}/billing`)).status, 403, 'Admin has no can_view_billing')
          })

          // The legacy SDK does not send activeOrgId.
          if (variant.current) {
            it('an active-org token carries that org only', async () => {
              const userId = await newUser('active')
              const orgId = await newOrg('active')
              await member(orgId, userId, 'Member')
              const { access_token: accessToken } = await auth.createAccessToken({ userId, durationInMinutes: 5, activeOrgId: orgId })
              const user = await auth.validateAccessTokenAndGetUser(`Bearer ${accessToken}`)
              assert.equal(user.activeOrgId, orgId)
              await assert.rejects(
                auth.createAccessToken({ userId, durationInMinutes: 5, activeOrgId: await newOrg('not-member') }),
                (err: unknown) => err instanceof sdk.AccessTokenCreationException && 'active_org_id' in err.fieldToErrors,
              )
            })
          }

          it('createAccessToken for an unknown or disabled user is a UserNotFoundException', async () => {
            await assert.rejects(
              auth.createAccessToken({ userId: '00000000-0000-4000-8000-000000000000', durationInMinutes: 5 }),
              sdk.UserNotFoundException,
            )
            const userId = await newUser('disabled-token')
            await auth.disableUser(userId)
            await assert.rejects(auth.createAccessToken({ userId, durationInMinutes: 5 }), sdk.UserNotFoundException)
          })
        })

        describe('end-user API keys', () => {
          it('createApiKey and fetchApiKey', async () => {
            const userId = await newUser('key')
            const expires = Math.floor(Date.now() / 1000) + 3600
            const created = await auth.createApiKey({
              userId,
              metadata: { env: 'test' },
              expiresAtSeconds: expires,
              displayName: 'CI key',
            } as never)
            assert.match(created.apiKeyId, /^[0-9a-f]{32}$/)
            assert.equal(typeof created.apiKeyToken, 'string')
            const key = await auth.fetchApiKey(created.apiKeyId)
            assert.equal(key.apiKeyId, created.apiKeyId)
            assert.equal(key.userId, userId)
            assert.equal(key.orgId, null)
            assert.equal(key.expiresAtSeconds, expires)
            assert.deepEqual(key.metadata, { env: 'test' })
            // The legacy SDK does not send display_name.
            assert.equal(key.displayName, variant.current ? 'CI key' : null)
            await assert.rejects(
              auth.createApiKey({ userId: '00000000-0000-4000-8000-000000000000' }),
              (err: unknown) => err instanceof sdk.ApiKeyCreateException && 'user_id' in err.fieldToErrors,
            )
          })

          it('fetchCurrentApiKeys and fetchArchivedApiKeys page by owner; deleteApiKey archives', async () => {
            const userId = await newUser('keys-list')
            const a = await auth.createApiKey({ userId })
            const b = await auth.createApiKey({ userId })
            const currentKeys = await auth.fetchCurrentApiKeys({ userId, pageSize: 1 })
            assert.equal(currentKeys.totalApiKeys, 2)
            assert.equal(currentKeys.hasMoreResults, true)
            assert.equal(currentKeys.apiKeys.length, 1)
            assert.equal(await auth.deleteApiKey(a.apiKeyId), true)
            const archived = await auth.fetchArchivedApiKeys({ userId })
            assert.deepEqual(
              archived.apiKeys.map((k) => k.apiKeyId),
              [a.apiKeyId],
            )
            assert.deepEqual(
              (await auth.fetchCurrentApiKeys({ userId })).apiKeys.map((k) => k.apiKeyId),
              [b.apiKeyId],
            )
            await assert.rejects(auth.validateApiKey(a.apiKeyToken), sdk.ApiKeyValidateException)
            assert.equal(await auth.deleteApiKey('0'.repeat(32)), false)
            const address = (await auth.fetchUserMetadataByUserId(userId))!.email
            assert.equal((await auth.fetchCurrentApiKeys({ userEmail: address })).totalApiKeys, 1)
          })

          it('updateApiKey changes metadata and expiry', async () => {
            const userId = await newUser('key-update')
            const { apiKeyId } = await auth.createApiKey({ userId, expiresAtSeconds: Math.floor(Date.now() / 1000) + 600 })
            const later = Math.floor(Date.now() / 1000) + 7200
            // The SDK types metadata as a string here, but sends (and PropelAuth takes) an object.
            assert.equal(await auth.updateApiKey(apiKeyId, { metadata: { v: 2 } as never, expiresAtSeconds: later }), true)
            const key = await auth.fetchApiKey(apiKeyId)
            assert.deepEqual(key.metadata, { v: 2 })
            assert.equal(key.expiresAtSeconds, later)
            // The legacy SDK does not send setToNeverExpire.
            if (variant.current) {
              assert.equal(await auth.updateApiKey(apiKeyId, { setToNeverExpire: true }), true)
              assert.equal((await auth.fetchApiKey(apiKeyId)).expiresAtSeconds, null)
            }
            await assert.rejects(
              auth.updateApiKey(apiKeyId, { expiresAtSeconds: 1 }),
              (err: unknown) => err instanceof sdk.ApiKeyUpdateException && 'expires_at_seconds' in err.fieldToErrors,
            )
          })

          it('validateApiKey and validatePersonalApiKey: a personal key answers its user', async () => {
            const userId = await newUser('personal')
            const { apiKeyToken } = await auth.createApiKey({ userId, metadata: { scope: 'read' } })
            const validated = await auth.validateApiKey(`Bearer ${apiKeyToken}`)
            assert.equal(validated.user?.userId, userId)
            assert.equal(validated.org, undefined)
            assert.deepEqual(validated.metadata, { scope: 'read' })
            const personal = await auth.validatePersonalApiKey(apiKeyToken)
            assert.equal(personal.user.userId, userId)
            await assert.rejects(
              auth.validateOrgApiKey(apiKeyToken),
              (err: unknown) => err instanceof sdk.ApiKeyValidateException && 'api_key_token' in err.fieldToErrors,
            )
            await assert.rejects(
              auth.validateApiKey('not-a-key-at-all'),
              (err: unknown) => err instanceof sdk.ApiKeyValidateException && 'api_key_token' in err.fieldToErrors,
            )
          })

          it('validateOrgApiKey: an org key answers its org, its creator and the creator’s membership', async () => {
            const orgId = await newOrg('org-key')
            const creator = await newUser('creator')
            await member(orgId, creator, 'Admin')
            const { apiKeyToken } = await auth.createApiKey({ orgId, userId: creator })
            const validated = await auth.validateOrgApiKey(apiKeyToken)
            assert.equal(validated.org.orgId, orgId)
            assert.equal(validated.user?.userId, creator)
            assert.ok(validated.userInOrg instanceof sdk.OrgMemberInfo)
            assert.equal(validated.userInOrg.userAssignedRole, 'Admin')
            await assert.rejects(
              auth.validatePersonalApiKey(apiKeyToken),
              (err: unknown) => err instanceof sdk.ApiKeyValidateException && 'api_key_token' in err.fieldToErrors,
            )
            const generic = await auth.createApiKey({})
            const answered = await auth.validateApiKey(generic.apiKeyToken)
            assert.equal(answered.user, undefined)
            assert.equal(answered.org, undefined)
          })

          it('validation is usage: past the owner’s rate limit it answers 429 with wait_seconds', async () => {
            const userId = await newUser('limited')
            const { apiKeyToken } = await auth.createApiKey({ userId })
            for (let i = 0; i < USER_BUDGET; i++) await auth.validateApiKey(apiKeyToken)
            await assert.rejects(auth.validateApiKey(apiKeyToken), (err: unknown) =>
              variant.current
                ? err instanceof current.ApiKeyValidateRateLimitedException &&
                  err.waitSeconds > 0 &&
                  err.errorCode === 'rate_limit_exceeded'
                : err instanceof Error && /Unknown error/.test(err.message),
            )
          })

          if (variant.current) {
            it('importApiKey and validateImportedApiKey keep an existing key string working', async () => {
              const userId = await newUser('imported')
              const existing = `legacy_${unique('secret')}_abcdefghijklmnop`
              // The SDK camel-cases the answer, so api_key_id arrives as apiKeyId whatever its type says.
              const imported = await auth.importApiKey({ importedApiKey: existing, userId, metadata: { from: 'old' } })
              const { apiKeyId } = imported as unknown as { apiKeyId: string }
              const validated = await auth.validateImportedApiKey(existing)
              assert.equal(validated.user?.userId, userId)
              assert.deepEqual(validated.metadata, { from: 'old' })
              assert.equal((await auth.fetchApiKey(apiKeyId)).userId, userId)
              await assert.rejects(auth.validateImportedApiKey(`${existing}-wrong`), sdk.ApiKeyValidateException)
            })

            it('fetchApiKeyUsage counts validations by key, user and org', async () => {
              const userId = await newUser('usage')
              const { apiKeyId, apiKeyToken } = await auth.createApiKey({ userId })
              for (let i = 0; i < 3; i++) await auth.validateApiKey(apiKeyToken)
              const date = new Date().toISOString().slice(0, 10)
              let count = 0
              for (let i = 0; i < 50 && count < 3; i++) {
                await new Promise((r) => setTimeout(r, 50))
                count = (await auth.fetchApiKeyUsage({ date, api_key_id: apiKeyId })).count
              }
              assert.equal(count, 3)
              assert.equal((await auth.fetchApiKeyUsage({ date, userId })).count, 3)
              assert.equal((await auth.fetchApiKeyUsage({ date: '2001-01-01', api_key_id: apiKeyId })).count, 0)
            })
          }
        })

        describe('passwords', () => {
          it('updateUserPassword sets one (hasPassword), clearUserPassword clears it; a short one is UpdateUserPasswordException', async () => {
            const userId = await newUser('password')
            assert.equal((await auth.fetchUserMetadataByUserId(userId))?.hasPassword, false)
            assert.equal(
              await auth.updateUserPassword(userId, { password: 'a long enough password', askUserToUpdatePasswordOnLogin: true }),
              true,
            )
            assert.equal((await auth.fetchUserMetadataByUserId(userId))?.hasPassword, true)
            await assert.rejects(
              auth.updateUserPassword(userId, { password: 'short' }),
              (err: unknown) => err instanceof sdk.UpdateUserPasswordException && 'password' in err.fieldToErrors,
            )
            assert.equal(
              await auth.updateUserPassword('00000000-0000-4000-8000-000000000000', { password: 'a long enough password' }),
              false,
            )
            assert.equal(await auth.clearUserPassword(userId), true)
            assert.equal((await auth.fetchUserMetadataByUserId(userId))?.hasPassword, false)
          })

          it('migrateUserFromExternalSource with existingPasswordHash and migrateUserPassword take a bcrypt hash; a malformed one names its field', async () => {
            const bcryptHash = '$2b$04$hYWNt4XpzIiqyG56z.0q3u6t4HS936c6G.AQFJanrKRFwJVuqQ/di'
            const { userId } = await auth.migrateUserFromExternalSource({
              email: email('migrated'),
              emailConfirmed: true,
              existingPasswordHash: bcryptHash,
              askUserToUpdatePasswordOnLogin: true,
            })
            assert.equal((await auth.fetchUserMetadataByUserId(userId))?.hasPassword, true)
            // The legacy SDK (node-apis 2.1.29) has no migrateUserPassword.
            if (variant.current) {
              const other = await newUser('migrated-later')
              await auth.migrateUserPassword({ userId: other, passwordHash: bcryptHash })
              assert.equal((await auth.fetchUserMetadataByUserId(other))?.hasPassword, true)
              await assert.rejects(
                auth.migrateUserPassword({ userId: other, passwordHash: 'md5:0123' }),
                (err: unknown) => err instanceof sdk.MigrateUserPasswordException && 'password_hash' in err.fieldToErrors,
              )
            }
            await assert.rejects(
              auth.migrateUserFromExternalSource({ email: email('bad-hash'), emailConfirmed: true, existingPasswordHash: '$2b$bad' }),
              (err: unknown) => err instanceof sdk.MigrateUserException && 'existing_password_hash' in err.fieldToErrors,
            )
          })
        })

        describe('magic links', () => {
          it('createMagicLink answers a one-time URL that signs the user in on the gateway; a bad redirect is MagicLinkCreationException', async () => {
            const address = email('magic')
            const userId = await newUser('magic', { email: address })
            const { url } = await auth.createMagicLink({ email: address, redirectToUrl: '/home', expiresInHours: 1 })
            assert.match(url, /^https:\/\/app\.example\.com\/\.gatehouse\/magic\//)
            const followed = await fetch(url.replace('https://app.example.com', gateway.url), { redirect: 'manual' })
            assert.deepEqual([followed.status, followed.headers.get('location')], [303, '/home'])
            const cookie = followed.headers.getSetCookie()[0]?.split(';', 1)[0] ?? ''
            const token = cookie.slice(cookie.indexOf('=') + 1)
            assert.equal((await auth.validateAccessTokenAndGetUser(`Bearer ${token}`)).userId, userId)
            assert.equal((await fetch(url.replace('https://app.example.com', gateway.url), { redirect: 'manual' })).status, 404)
            await assert.rejects(
              auth.createMagicLink({ email: address, redirectToUrl: 'https://evil.example/' }),
              (err: unknown) => err instanceof sdk.MagicLinkCreationException && 'redirect_to_url' in err.fieldToErrors,
            )
            const created = await auth.createMagicLink({ email: email('magic-new') })
            assert.match(created.url, /\/\.gatehouse\/magic\//)
          })
        })

        describe('invitations', () => {
          it('inviteUserToOrg and inviteUserToOrgByUserId invite; fetchPendingInvites lists them; revokePendingOrgInvite revokes', async () => {
            const orgId = await newOrg('invite')
            const invitee = email('Invitee')
            assert.equal(await auth.inviteUserToOrg({ orgId, email: invitee, role: 'Member' }), true)
            const byIdEmail = email('invitee-by-id')
            const existingId = await newUser('invitee-by-id', { email: byIdEmail })
            const byId = (auth as Partial<Auth>).inviteUserToOrgByUserId
            if (byId) assert.equal(await byId({ orgId, userId: existingId, role: 'Admin' }), true)
            const page = await auth.fetchPendingInvites({ orgId, pageSize: 10 })
            assert.equal(page.totalInvites, byId ? 2 : 1)
            assert.equal(page.hasMoreResults, false)
            // Invites made in the same second are in no particular order.
            const first = page.invites.find((i) => i.inviteeEmail === invitee.toLowerCase())!
            assert.deepEqual(
              [first.inviteeEmail, first.orgId, first.roleInOrg, first.additionalRolesInOrg],
              [invitee.toLowerCase(), orgId, 'Member', []],
            )
            assert.ok(first.orgName.startsWith('invite-'))
            assert.ok(first.expiresAt - first.createdAt === 7 * 24 * 3600, 'a week, as PropelAuth')
            if (byId) assert.ok(page.invites.some((i) => i.inviteeEmail === byIdEmail.toLowerCase() && i.roleInOrg === 'Admin'))
            assert.equal(await auth.revokePendingOrgInvite({ orgId, inviteeEmail: invitee }), true)
            assert.equal((await auth.fetchPendingInvites({ orgId })).totalInvites, byId ? 1 : 0)
            assert.equal(await auth.revokePendingOrgInvite({ orgId, inviteeEmail: invitee }), false, 'nothing pending: 404')
          })

          it('an unknown org is false; an unknown role or additional roles are a BadRequestException naming the field', async () => {
            assert.equal(await auth.inviteUserToOrg({ orgId: 'no-such-org', email: email('nowhere'), role: 'Member' }), false)
            const orgId = await newOrg('invite-bad')
            await assert.rejects(
              auth.inviteUserToOrg({ orgId, email: email('bad-role'), role: 'Emperor' }),
              (err: unknown) => err instanceof sdk.BadRequestException && 'role' in err.fieldToErrors,
            )
            await assert.rejects(
              auth.inviteUserToOrg({ orgId, email: email('extra'), role: 'Member', additionalRoles: ['Admin'] }),
              (err: unknown) => err instanceof sdk.BadRequestException && 'additional_roles' in err.fieldToErrors,
            )
          })
        })
      })
    }
  })
}
