/**
 * The pages' one script, served as an asset (the CSP allows no inline script): a button with
 * `data-copy="ID"` copies the value of the element with that id to the clipboard. The pages work
 * without it; only copying needs it.
 */
export const COPY_SCRIPT = `document.addEventListener('click', function (event) {
  var button = event.target instanceof Element ? event.target.closest('[data-copy]') : null
  if (!button) return
  var field = document.getElementById(button.getAttribute('data-copy'))
  if (!field || !navigator.clipboard) return
  navigator.clipboard.writeText(field.value).then(function () {
    button.textContent = 'Copied'
  })
})
`
