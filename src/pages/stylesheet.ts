/** The pages' one stylesheet, served as an asset (the CSP allows no inline style). */
export const STYLESHEET = `:root { color-scheme: light; --ink: #1d2430; --muted: #5b6474; --line: #d8dde6; --accent: #2855c7; --warn: #a33b21; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #f5f7fa; }
header { display: flex; align-items: center; justify-content: space-between; padding: 12px 24px; background: #fff; border-bottom: 1px solid var(--line); }
header strong { font-size: 17px; }
main { max-width: 960px; margin: 24px auto; padding: 0 24px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin-bottom: 20px; }
h1 { font-size: 22px; margin: 0 0 16px; }
h2 { font-size: 17px; margin: 0 0 12px; }
p.muted, td.muted, span.muted { color: var(--muted); }
form.stack { display: grid; gap: 10px; max-width: 360px; }
form.row { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; }
form.inline { display: inline; margin: 0; }
label { display: grid; gap: 4px; font-size: 13px; color: var(--muted); }
input, select { font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff; color: var(--ink); }
button { font: inherit; padding: 6px 14px; border: 1px solid var(--accent); border-radius: 6px; background: var(--accent); color: #fff; cursor: pointer; }
button.quiet { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: var(--warn); border-color: var(--warn); }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th, td { text-align: left; padding: 8px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; }
.secret { border: 2px solid var(--accent); background: #eef3ff; }
.secret input { width: 100%; padding: 8px; font: 14px/1.6 ui-monospace, SFMono-Regular, Menlo, monospace; }
.secret .row { display: flex; gap: 10px; }
.notice { border-color: #7fb17f; background: #f1f9f1; }
.notice.refused { border-color: var(--warn); background: #fdf1ee; }
.notice p { margin: 0; }
`
