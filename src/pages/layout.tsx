import type { Child } from 'hono/jsx'
import { SCRIPT_ASSET, STYLESHEET_ASSET } from './assets.ts'

/** Every page's frame: gatehouse's own stylesheet and script (the CSP allows nothing inline and nothing from elsewhere). */
export function Layout(props: { title: string; header?: Child; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title}</title>
        <link rel="stylesheet" href={STYLESHEET_ASSET.path} />
        <script src={SCRIPT_ASSET.path} defer></script>
      </head>
      <body>
        <header>
          <strong>gatehouse</strong>
          {props.header}
        </header>
        <main>{props.children}</main>
      </body>
    </html>
  )
}

/** The hidden CSRF field of a signed-in form. */
export function CsrfField(props: { token: string }) {
  return <input type="hidden" name="csrf_token" value={props.token} />
}
