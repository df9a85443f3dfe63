import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { adminDepsOf, createAdminApp } from '../admin/index.ts'
import type { DirectoryChange } from '../directory/index.ts'
import type { LoadedConfig } from '../config/index.ts'
import { openDirectory, signInSettingsOf } from '../directory/index.ts'
import { createMailer } from '../mail/index.ts'
import { announceChanges } from './announce.ts'

/**
 * `gatehouse users|orgs|keys|invites|token …`: the admin API's operations from the shell, on the configured
 * store. Each command is one admin API request made in-process, so the CLI validates, enforces
 * the org rules and answers exactly as the API does (JSON on stdout, the problem on stderr).
 */
type Request = { method: string; path: string; body?: unknown }

type Command = {
  usage: string
  /** What to print of a successful answer; the whole JSON by default. */
  output?: (answer: Record<string, unknown>) => string
  options?: Record<string, { type: 'string' | 'boolean' }>
  /** The command reads a secret from stdin (never from argv, which other local users can read) and gets it as `stdin`. */
  readsStdin?: boolean
  request(positionals: string[], values: Record<string, string | boolean | undefined>, stdin: string): Request
  /** API fields whose flag is not the field's own name with - for _ (`--user` for user_id, `--minutes`). */
  flags?: Record<string, string>
}

/** A JSON flag's value (`--metadata '{"a":1}'`); a value that is not JSON is sent as is, for the API to refuse by name. */
const jsonValue = (v: string | boolean | undefined): unknown => {
  if (typeof v !== 'string') return undefined
  try {
    return JSON.parse(v) as unknown
  } catch {
    return v
  }
}
const nullable = (v: string | boolean | undefined) => (v === '' ? null : str(v))
const id = (v: string | undefined) => encodeURIComponent(v ?? '')

const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined)
const int = (v: string | boolean | undefined) => (typeof v === 'string' ? Number(v) : undefined)

function listPath(base: string, v: Record<string, string | boolean | undefined>, filter: string, value: string | undefined): string {
  const query = new URLSearchParams({ page_number: String(int(v.page) ?? 0), page_size: String(int(v['page-size']) ?? 20) })
  if (value) query.set(filter, value)
  return `${base}?${query}`
}

const COMMANDS: Record<string, Command> = {
  'users create': {
    usage: 'users create --email EMAIL [--username NAME] [--first-name F] [--last-name L] [--email-confirmed]',
    options: {
      email: { type: 'string' },
      username: { type: 'string' },
      'first-name': { type: 'string' },
      'last-name': { type: 'string' },
      'email-confirmed': { type: 'boolean' },
    },
    request: (_, v) => ({
      method: 'POST',
      path: '/v1/users',
      body: {
        email: str(v.email),
        username: str(v.username),
        first_name: str(v['first-name']),
        last_name: str(v['last-name']),
        email_confirmed: v['email-confirmed'] === true,
      },
    }),
  },
  'users set-password': {
    usage: 'users set-password USER_ID [--ask-to-update] < password-file (the password is read from stdin, one line)',
    options: { 'ask-to-update': { type: 'boolean' } },
    readsStdin: true,
    request: ([id], v, stdin) => ({
      method: 'PUT',
      path: `/v1/users/${encodeURIComponent(id ?? '')}/password`,
      body: { password: stdin, ask_user_to_update_password_on_login: v['ask-to-update'] === true },
    }),
  },
  'users clear-password': {
    usage: 'users clear-password USER_ID',
    request: ([id]) => ({ method: 'DELETE', path: `/v1/users/${encodeURIComponent(id ?? '')}/password` }),
  },
  'users get': {
    usage: 'users get USER_ID | users get --email EMAIL',
    options: { email: { type: 'string' } },
    request: ([id], v) =>
      str(v.email)
        ? { method: 'GET', path: `/v1/users/email/${encodeURIComponent(str(v.email)!)}?include_orgs=true` }
        : { method: 'GET', path: `/v1/users/${encodeURIComponent(id ?? '')}?include_orgs=true` },
  },
  'users list': {
    usage: 'users list [--query TEXT] [--page N] [--page-size N]',
    options: { query: { type: 'string' }, page: { type: 'string' }, 'page-size': { type: 'string' } },
    request: (_, v) => ({ method: 'GET', path: listPath('/v1/users', v, 'email_or_username', str(v.query)) }),
  },
  'users disable': {
    usage: 'users disable USER_ID',
    request: ([id]) => ({ method: 'POST', path: `/v1/users/${encodeURIComponent(id ?? '')}/disable` }),
  },
  'users enable': {
    usage: 'users enable USER_ID',
    request: ([id]) => ({ method: 'POST', path: `/v1/users/${encodeURIComponent(id ?? '')}/enable` }),
  },
  'orgs create': {
    usage: 'orgs create --name NAME [--domain DOMAIN] [--max-users N]',
    options: { name: { type: 'string' }, domain: { type: 'string' }, 'max-users': { type: 'string' } },
    request: (_, v) => ({
      method: 'POST',
      path: '/v1/orgs',
      body: { name: str(v.name), domain: str(v.domain), max_users: int(v['max-users']) },
    }),
  },
  'orgs add-member': {
    usage: 'orgs add-member ORG_ID --user USER_ID --role ROLE',
    options: { user: { type: 'string' }, role: { type: 'string' } },
    request: ([orgId], v) => ({
      method: 'POST',
      path: `/v1/orgs/${encodeURIComponent(orgId ?? '')}/members`,
      body: { user_id: str(v.user), role: str(v.role) },
    }),
  },
  'orgs list': {
    usage: 'orgs list [--name TEXT] [--page N] [--page-size N]',
    options: { name: { type: 'string' }, page: { type: 'string' }, 'page-size': { type: 'string' } },
    request: (_, v) => ({ method: 'GET', path: listPath('/v1/orgs', v, 'name', str(v.name)) }),
  },
  'users update': {
    usage:
      'users update USER_ID [--username NAME] [--first-name F] [--last-name L] [--picture-url URL] [--properties JSON] [--metadata JSON] ("" clears a field)',
    options: {
      username: { type: 'string' },
      'first-name': { type: 'string' },
      'last-name': { type: 'string' },
      'picture-url': { type: 'string' },
      properties: { type: 'string' },
      metadata: { type: 'string' },
    },
    request: ([userId], v) => ({
      method: 'PATCH',
      path: `/v1/users/${id(userId)}`,
      body: {
        username: nullable(v.username),
        first_name: nullable(v['first-name']),
        last_name: nullable(v['last-name']),
        picture_url: nullable(v['picture-url']),
        properties: jsonValue(v.properties),
        metadata: jsonValue(v.metadata),
      },
    }),
  },
  'users delete': {
    usage: 'users delete USER_ID',
    request: ([userId]) => ({ method: 'DELETE', path: `/v1/users/${id(userId)}` }),
  },
  'users migrate': {
    usage:
      'users migrate --email EMAIL [--email-confirmed] [--existing-user-id ID] [--disabled] [--username NAME] [--first-name F] [--last-name L]',
    options: {
      email: { type: 'string' },
      'email-confirmed': { type: 'boolean' },
      'existing-user-id': { type: 'string' },
      disabled: { type: 'boolean' },
      username: { type: 'string' },
      'first-name': { type: 'string' },
      'last-name': { type: 'string' },
    },
    flags: { enabled: 'disabled' },
    request: (_, v) => ({
      method: 'POST',
      path: '/v1/users/migrate',
      body: {
        email: str(v.email),
        email_confirmed: v['email-confirmed'] === true,
        existing_user_id: str(v['existing-user-id']),
        enabled: v.disabled !== true,
        username: str(v.username),
        first_name: str(v['first-name']),
        last_name: str(v['last-name']),
      },
    }),
  },
  'orgs get': {
    usage: 'orgs get ORG_ID',
    request: ([orgId]) => ({ method: 'GET', path: `/v1/orgs/${id(orgId)}` }),
  },
  'orgs update': {
    usage: 'orgs update ORG_ID [--name NAME] [--domain DOMAIN] [--max-users N] [--metadata JSON] ("" clears domain and max-users)',
    options: { name: { type: 'string' }, domain: { type: 'string' }, 'max-users': { type: 'string' }, metadata: { type: 'string' } },
    request: ([orgId], v) => ({
      method: 'PATCH',
      path: `/v1/orgs/${id(orgId)}`,
      body: {
        name: str(v.name),
        domain: nullable(v.domain),
        max_users: v['max-users'] === '' ? null : int(v['max-users']),
        metadata: jsonValue(v.metadata),
      },
    }),
  },
  'orgs delete': {
    usage: 'orgs delete ORG_ID',
    request: ([orgId]) => ({ method: 'DELETE', path: `/v1/orgs/${id(orgId)}` }),
  },
  'orgs remove-member': {
    usage: 'orgs remove-member ORG_ID --user USER_ID',
    options: { user: { type: 'string' } },
    request: ([orgId], v) => ({ method: 'DELETE', path: `/v1/orgs/${id(orgId)}/members/${id(str(v.user))}` }),
  },
  'orgs change-role': {
    usage: 'orgs change-role ORG_ID --user USER_ID --role ROLE',
    options: { user: { type: 'string' }, role: { type: 'string' } },
    request: ([orgId], v) => ({ method: 'PUT', path: `/v1/orgs/${id(orgId)}/members/${id(str(v.user))}`, body: { role: str(v.role) } }),
  },
  'keys create': {
    usage:
      'keys create [--user USER_ID] [--org ORG_ID] [--name NAME] [--scopes a,b] [--expiration two_weeks|one_month|three_months|six_months|one_year|never]',
    options: {
      user: { type: 'string' },
      org: { type: 'string' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      expiration: { type: 'string' },
    },
    request: (_, v) => ({
      method: 'POST',
      path: '/v1/api_keys',
      body: {
        user_id: str(v.user),
        org_id: str(v.org),
        name: str(v.name),
        scopes: str(v.scopes)?.split(',').filter(Boolean),
        expiration: str(v.expiration),
      },
    }),
  },
  'keys list': {
    usage: 'keys list [--user USER_ID] [--org ORG_ID] [--archived] [--page N] [--page-size N]',
    options: {
      user: { type: 'string' },
      org: { type: 'string' },
      archived: { type: 'boolean' },
      page: { type: 'string' },
      'page-size': { type: 'string' },
    },
    request: (_, v) => {
      const path = listPath(v.archived === true ? '/v1/api_keys/archived' : '/v1/api_keys', v, 'user_id', str(v.user))
      return { method: 'GET', path: str(v.org) ? `${path}&org_id=${encodeURIComponent(str(v.org)!)}` : path }
    },
  },
  'keys get': {
    usage: 'keys get API_KEY_ID',
    request: ([id]) => ({ method: 'GET', path: `/v1/api_keys/${encodeURIComponent(id ?? '')}` }),
  },
  'keys rotate': {
    usage: 'keys rotate API_KEY_ID [--grace-seconds N]',
    options: { 'grace-seconds': { type: 'string' } },
    request: ([id], v) => ({
      method: 'POST',
      path: `/v1/api_keys/${encodeURIComponent(id ?? '')}/rotate`,
      body: { grace_seconds: int(v['grace-seconds']) },
    }),
  },
  'keys archive': {
    usage: 'keys archive API_KEY_ID [--reason TEXT]',
    options: { reason: { type: 'string' } },
    request: ([id], v) => ({
      method: 'POST',
      path: `/v1/api_keys/${encodeURIComponent(id ?? '')}/archive`,
      body: { reason: str(v.reason) },
    }),
  },
  'keys update': {
    usage: 'keys update API_KEY_ID [--name NAME] [--description TEXT] [--scopes a,b] [--metadata JSON]',
    options: { name: { type: 'string' }, description: { type: 'string' }, scopes: { type: 'string' }, metadata: { type: 'string' } },
    request: ([keyId], v) => ({
      method: 'PATCH',
      path: `/v1/api_keys/${id(keyId)}`,
      body: {
        name: nullable(v.name),
        description: nullable(v.description),
        scopes: str(v.scopes)?.split(',').filter(Boolean),
        metadata: jsonValue(v.metadata),
      },
    }),
  },
  'keys usage': {
    usage: 'keys usage --date YYYY-MM-DD [--key API_KEY_ID] [--user USER_ID] [--org ORG_ID]',
    options: { date: { type: 'string' }, key: { type: 'string' }, user: { type: 'string' }, org: { type: 'string' } },
    flags: { api_key_id: 'key' },
    request: (_, v) => {
      const query = new URLSearchParams({ date: str(v.date) ?? '' })
      for (const [flag, field] of [
        ['key', 'api_key_id'],
        ['user', 'user_id'],
        ['org', 'org_id'],
      ] as const) {
        if (str(v[flag])) query.set(field, str(v[flag])!)
      }
      return { method: 'GET', path: `/v1/api_keys/usage?${query}` }
    },
  },
  'keys delete': {
    usage: 'keys delete API_KEY_ID',
    request: ([id]) => ({ method: 'DELETE', path: `/v1/api_keys/${encodeURIComponent(id ?? '')}` }),
  },
  'keys validate': {
    usage: 'keys validate SECRET',
    request: ([secret]) => ({ method: 'POST', path: '/v1/api_keys/validate', body: { api_key_token: secret ?? '' } }),
  },
  'invites create': {
    usage: 'invites create --org ORG_ID --email EMAIL --role ROLE [--expires-in-hours N]',
    options: { org: { type: 'string' }, email: { type: 'string' }, role: { type: 'string' }, 'expires-in-hours': { type: 'string' } },
    request: (_, v) => ({
      method: 'POST',
      path: '/v1/invites',
      body: { org_id: str(v.org), email: str(v.email), role: str(v.role), expires_in_hours: int(v['expires-in-hours']) },
    }),
  },
  'invites list': {
    usage: 'invites list [--org ORG_ID] [--page N] [--page-size N]',
    options: { org: { type: 'string' }, page: { type: 'string' }, 'page-size': { type: 'string' } },
    request: (_, v) => ({ method: 'GET', path: listPath('/v1/invites', v, 'org_id', str(v.org)) }),
  },
  'invites revoke': {
    usage: 'invites revoke ORG_ID --email EMAIL',
    options: { email: { type: 'string' } },
    request: ([orgId], v) => ({ method: 'DELETE', path: `/v1/orgs/${id(orgId)}/invites/${id(str(v.email))}` }),
  },
  token: {
    usage: 'token --user USER_ID [--minutes N] [--org ORG_ID]',
    flags: { duration_in_minutes: 'minutes', active_org_id: 'org' },
    // The bare token, for TOKEN=$(gatehouse token --user …).
    output: (answer) => String(answer.access_token),
    options: { user: { type: 'string' }, minutes: { type: 'string' }, org: { type: 'string' } },
    request: (_, v) => ({
      method: 'POST',
      path: '/v1/access_tokens',
      body: { user_id: str(v.user), duration_in_minutes: int(v.minutes) ?? 60, active_org_id: str(v.org) },
    }),
  },
}

/**
 * A validation 400's field errors as the flags the user typed: `--user: required` rather than `user_id:
 * required`. A field of the path (an id given as an argument) is named by the usage's argument.
 */
function argumentErrors(answer: Record<string, unknown> | undefined, command: Command): string | undefined {
  // A refusal with an error_code (an archived key, a full org) is about the records, not the arguments.
  const invalid = answer?.status === 400 && answer.error_code === undefined
  const errors = invalid ? (answer.errors as { field: string; message: string }[] | undefined) : undefined
  if (!errors?.length) return undefined
  const flags: Record<string, string> = {}
  for (const flag of Object.keys(command.options ?? {})) {
    flags[flag.replaceAll('-', '_')] = flag
    flags[`${flag}_id`] = flag
  }
  Object.assign(flags, command.flags)
  const argument = /^[a-z]+ [a-z-]+ ([A-Z_]+)/.exec(command.usage)?.[1]
  return errors
    .map(({ field, message }) => {
      const top = field.split('.', 1)[0]!
      const name = flags[top]
        ? `--${flags[top]}`
        : argument && !(top in flags) && /_id$/.test(top)
          ? argument
          : `--${top.replaceAll('_', '-')}`
      return `${name}: ${message}`
    })
    .join('\n')
}

/** `--field NAME` prints one field of the answer bare, for `ID=$(gatehouse users create … --field user_id)`. */
function printed(answer: Record<string, unknown> | undefined, command: Command, field: string | undefined): string {
  if (!answer) return 'ok'
  if (field !== undefined) {
    const value = answer[field]
    return typeof value === 'object' ? JSON.stringify(value) : String(value)
  }
  return command.output ? command.output(answer) : JSON.stringify(answer, null, 2)
}

export const DIRECTORY_USAGE = Object.values(COMMANDS)
  .map((c) => `  ${c.usage}`)
  .join('\n')

/** Runs `words` (e.g. ['users', 'create', '--email', …]) if it is a directory command; undefined if not. */
export async function runDirectoryCommand(words: string[], loaded: () => LoadedConfig | undefined): Promise<number | undefined> {
  const [first, second] = words
  const name = first === 'token' ? 'token' : `${first} ${second}`
  const command = COMMANDS[name]
  if (!command) return undefined
  let parsed
  try {
    parsed = parseArgs({
      args: words.slice(name.split(' ').length),
      allowPositionals: true,
      options: {
        ...command.options,
        config: { type: 'string', short: 'c' },
        field: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    console.error(`${(err as Error).message}\nusage: gatehouse ${command.usage}`)
    return 2
  }
  if (parsed.values.help === true) {
    console.log(
      `usage: gatehouse ${command.usage}\n  --config FILE  (default $GATEHOUSE_CONFIG, then ./gatehouse.yaml)\n  --field NAME   print one field of the answer`,
    )
    return 0
  }
  const config = loaded()
  if (!config) return 1
  const directory = await openDirectory(config, { warn: (message) => console.error(`warning: ${message}`) })
  const { endUsers, mail } = config.config
  // Invitations made here are mailed as the gateway would mail them; what the mailer logs goes to stderr.
  const mailer = mail && createMailer(mail, { info: printMailLog, warn: printMailLog })
  try {
    // A key for this one process: the in-process admin API requires one like the listener does.
    const apiKey = randomBytes(24).toString('base64url')
    const changes: DirectoryChange[] = []
    const app = createAdminApp({
      ...adminDepsOf(directory),
      apiKey,
      onChange: (change) => changes.push(change),
      signIn: signInSettingsOf(endUsers),
      mailer,
    })
    const stdin = command.readsStdin ? await firstLineOfStdin() : ''
    const { method, path, body } = command.request(parsed.positionals, parsed.values, stdin)
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    const answer = text ? (JSON.parse(text) as Record<string, unknown>) : undefined
    if (res.ok) console.log(printed(answer, command, str(parsed.values.field)))
    const refused = !res.ok && argumentErrors(answer, command)
    if (refused) console.error(`${refused}\nusage: gatehouse ${command.usage}`)
    else if (!res.ok) console.error(text)
    await announceChanges(config.config, changes)
    return refused ? 2 : res.ok ? 0 : 1
  } finally {
    mailer?.close()
    await directory.close()
  }
}

function printMailLog(details: object, message: string): void {
  console.error(`${message}: ${JSON.stringify(details)}`)
}

/** stdin up to its first line break (a password file, or a pipe from a secret manager). */
async function firstLineOfStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? ''
}
