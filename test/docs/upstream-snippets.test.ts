import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * docs/UPSTREAM.md's TypeScript snippets are what a reader pastes: each is compiled as its own
 * module under the repository's own strict settings, `gatehouse/upstream` resolved to the SDK's source.
 */
describe("docs/UPSTREAM.md's TypeScript snippets compile under strict", () => {
  it('type-checks every ```ts block', () => {
    const doc = readFileSync(join(ROOT, 'docs/UPSTREAM.md'), 'utf8')
    const snippets = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
    assert.ok(snippets.length >= 3, 'the document has its TypeScript snippets')
    // Inside the repository, so that the snippets' packages resolve from its node_modules.
    const dir = mkdtempSync(join(ROOT, '.snippets-'))
    try {
      const files = snippets.map((code, i) => {
        const file = join(dir, `snippet-${i + 1}.ts`)
        writeFileSync(file, `${code}\nexport {}\n`)
        return file
      })
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          extends: join(ROOT, 'tsconfig.json'),
          compilerOptions: {
            noEmit: true,
            paths: {
              'gatehouse/upstream': [join(ROOT, 'src/upstream/index.ts')],
              'gatehouse/upstream/hono': [join(ROOT, 'src/upstream/hono.ts')],
            },
          },
          include: files,
        }),
      )
      const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], {
        encoding: 'utf8',
      })
      assert.equal(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
