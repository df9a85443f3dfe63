import { Layout } from './layout.tsx'
import { ACCOUNT_PATH } from '../accounts/index.ts'

/**
 * An invitation's page: the form that accepts it posts to the same URL (the accounts door checks
 * the invitation and adds the membership). Signed in, accepting is one button; otherwise the
 * form signs up with a name and a password, and the account page's sign-in is offered to a user
 * who already has an account.
 */
export function InvitePage(props: { action: string; signedInAs?: string }) {
  return (
    <Layout title="Invitation · gatehouse">
      <h1>You are invited</h1>
      <section>
        {props.signedInAs !== undefined ? (
          <form class="stack" method="post" action={props.action}>
            <p>
              Signed in as <strong>{props.signedInAs}</strong>.
            </p>
            <button type="submit">Accept the invitation</button>
          </form>
        ) : (
          <form class="stack" method="post" action={props.action}>
            <label>
              First name
              <input type="text" name="first_name" autocomplete="given-name" maxlength={100} />
            </label>
            <label>
              Last name
              <input type="text" name="last_name" autocomplete="family-name" maxlength={100} />
            </label>
            <label>
              Choose a password
              <input type="password" name="password" autocomplete="new-password" minlength={8} required />
            </label>
            <button type="submit">Create my account and accept</button>
          </form>
        )}
      </section>
      {props.signedInAs === undefined && (
        <p class="muted">
          Already have an account? <a href={ACCOUNT_PATH}>Sign in</a>, then open the invitation link again.
        </p>
      )}
    </Layout>
  )
}
