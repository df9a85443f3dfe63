import type { AccountKeys, EXPIRATION_DAYS } from '../directory/index.ts'
import type { ApiKey, Org } from '../store/index.ts'
import { ACCOUNT_PATH, LOGIN_PATH, MAGIC_REQUEST_PATH } from '../accounts/index.ts'
import type { SignInRefusal } from '../accounts/index.ts'
import { CsrfField, Layout } from './layout.tsx'
import type { NewKeySecret } from './one-time-secret.ts'
import { ARCHIVE_KEY_PATH, CREATE_KEY_PATH, SIGN_OUT_PATH } from './paths.ts'

/** What the sign-in page says after a redirect: a link was mailed, or a form sign-in was refused (SignInRefusal). */
export type SignInNotice = 'link_sent' | SignInRefusal

const NOTICES: Record<SignInNotice, { text: string; refused: boolean }> = {
  link_sent: { text: 'If that address has an account, a sign-in link is on its way. It works once.', refused: false },
  failed: { text: 'Invalid email or password.', refused: true },
  too_many: { text: 'Too many failed sign-ins: try again later.', refused: true },
}

/** The account page of a browser that is not signed in: sign-in by password, and by a mailed link when mail is configured. */
export function SignInPage(props: { mail: boolean; notice?: SignInNotice }) {
  const notice = props.notice && NOTICES[props.notice]
  return (
    <Layout title="Sign in · gatehouse">
      <h1>Sign in</h1>
      {notice && (
        <section class={notice.refused ? 'notice refused' : 'notice'}>
          <p>{notice.text}</p>
        </section>
      )}
      <section>
        <form class="stack" method="post" action={LOGIN_PATH}>
          <input type="hidden" name="redirect_to" value={ACCOUNT_PATH} />
          <label>
            Email
            <input type="email" name="email" autocomplete="username" required />
          </label>
          <label>
            Password
            <input type="password" name="password" autocomplete="current-password" required />
          </label>
          <button type="submit">Sign in</button>
        </form>
      </section>
      {props.mail && (
        <section>
          <h2>Or get a link by email</h2>
          <form class="stack" method="post" action={MAGIC_REQUEST_PATH}>
            <input type="hidden" name="redirect_to" value={ACCOUNT_PATH} />
            <label>
              Email
              <input type="email" name="email" autocomplete="email" required />
            </label>
            <button type="submit" class="quiet">
              Email me a sign-in link
            </button>
          </form>
        </section>
      )}
    </Layout>
  )
}

export type AccountView = {
  email: string
  keys: AccountKeys
  csrf: string
  /** A key created by the previous request: its secret, shown this once. */
  created?: NewKeySecret
  /** Unix seconds, for "expired" labels. */
  now: number
}

/** The signed-in account page: the one-time secret of a key just created, the create form, each owner's keys, sign-out. */
export function AccountPage(props: AccountView) {
  const { keys, csrf } = props
  const orgs = keys.orgs.map((o) => o.org)
  return (
    <Layout
      title="API keys · gatehouse"
      header={
        <form class="inline" method="post" action={SIGN_OUT_PATH}>
          <span class="muted">{props.email} </span>
          <CsrfField token={csrf} />
          <button type="submit" class="quiet">
            Sign out
          </button>
        </form>
      }
    >
      <h1>API keys</h1>
      {props.created && <NewSecret created={props.created} />}
      <CreateForm csrf={csrf} orgs={orgs} />
      <KeyTable title="Your personal keys" keys={keys.personal} csrf={csrf} now={props.now} />
      {keys.orgs.map(({ org, keys: orgKeys }) => (
        <KeyTable title={`Keys of ${org.name}`} keys={orgKeys} csrf={csrf} now={props.now} />
      ))}
    </Layout>
  )
}

function NewSecret(props: { created: NewKeySecret }) {
  return (
    <section class="secret" id="new-key">
      <h2>Your new key</h2>
      <p>Copy it now: gatehouse keeps only its hash, so it will not be shown again.</p>
      <div class="row">
        <input id="new-key-secret" type="text" readonly value={props.created.secret} aria-label="The new API key" />
        <button type="button" data-copy="new-key-secret">
          Copy
        </button>
      </div>
    </section>
  )
}

const EXPIRY_LABELS: Record<keyof typeof EXPIRATION_DAYS, string> = {
  never: 'Never',
  two_weeks: '14 days',
  one_month: '30 days',
  three_months: '90 days',
  six_months: '180 days',
  one_year: '1 year',
}

function CreateForm(props: { csrf: string; orgs: Org[] }) {
  return (
    <section>
      <h2>Create a key</h2>
      <form class="row" method="post" action={CREATE_KEY_PATH}>
        <CsrfField token={props.csrf} />
        <label>
          Name
          <input type="text" name="name" maxlength={255} required placeholder="deploy bot" />
        </label>
        <label>
          Expires
          <select name="expiration">
            {Object.entries(EXPIRY_LABELS).map(([value, label]) => (
              <option value={value} selected={value === 'three_months'}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Owner
          <select name="owner">
            <option value="me">Me</option>
            {props.orgs.map((org) => (
              <option value={org.org_id}>{org.name}</option>
            ))}
          </select>
        </label>
        <label>
          Scopes (optional)
          <input type="text" name="scopes" maxlength={1000} placeholder="read write" />
        </label>
        <button type="submit">Create key</button>
      </form>
    </section>
  )
}

function KeyTable(props: { title: string; keys: ApiKey[]; csrf: string; now: number }) {
  return (
    <section>
      <h2>{props.title}</h2>
      {props.keys.length === 0 ? (
        <p class="muted">No keys.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Key</th>
              <th>Created</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>Scopes</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {props.keys.map((key) => (
              <tr data-key-id={key.api_key_id}>
                <td>{key.name ?? <span class="muted">unnamed</span>}</td>
                <td>
                  <code>{key.display}</code>
                </td>
                <td>{dateOf(key.created_at)}</td>
                <td>{key.expires_at === null ? 'never' : `${dateOf(key.expires_at)}${key.expires_at <= props.now ? ' (expired)' : ''}`}</td>
                <td class={key.last_used_at === null ? 'muted' : undefined}>
                  {key.last_used_at === null ? 'not yet' : dateOf(key.last_used_at)}
                </td>
                <td>{key.scopes.length === 0 ? <span class="muted">all of the owner's</span> : key.scopes.join(' ')}</td>
                <td>
                  {!key.protected && (
                    <form class="inline" method="post" action={ARCHIVE_KEY_PATH}>
                      <CsrfField token={props.csrf} />
                      <input type="hidden" name="api_key_id" value={key.api_key_id} />
                      <button type="submit" class="danger">
                        Archive
                      </button>
                    </form>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

/** A Unix time as people read it, in UTC (the page has no script to learn the browser's zone). */
function dateOf(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`
}
