import { readdirSync } from 'node:fs'
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// A folder of src/ is entered through its index.ts: what else it holds may change without notice.
const INTO_ANOTHER_FOLDER = {
  regex: String.raw`^(?:\./|(?:\.\./)+)(?:src/)?[a-z-]+/(?!index\.ts$)[^/]+$`,
  message: "Import another folder through its index.ts (e.g. '../authn/index.ts'), not one of its files.",
}

// A unit test of src/NAME lives in test/NAME and may reach into that folder's files; the rest of
// a test's imports, and every end-to-end test's, go through the public face. The upstream SDK's
// framework adapters are entry points of their own.
const testFolders = readdirSync('test', { withFileTypes: true }).filter((e) => e.isDirectory())
const testRules = testFolders.map(({ name }) => ({
  files: [`test/${name}/**/*.{ts,tsx}`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: String.raw`^(?:\.\./)+src/(?!${name}/|upstream/(?:hono|express)\.ts$)[a-z-]+/(?!index\.ts$)[^/]+$`,
            message: INTO_ANOTHER_FOLDER.message,
          },
        ],
      },
    ],
  },
}))

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/results/', 'examples/python-upstream/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  { files: ['src/**/*.{ts,tsx}'], rules: { 'no-restricted-imports': ['error', { patterns: [INTO_ANOTHER_FOLDER] }] } },
  // The benchmark's own folders (bench/targets: programs it launches) are its business; src/ is entered as above.
  {
    files: ['bench/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: String.raw`^(?:\.\./)+src/[a-z-]+/(?!index\.ts$)[^/]+$`, message: INTO_ANOTHER_FOLDER.message }] },
      ],
    },
  },
  // The bench's baselines are plain JavaScript run by `node` alone: Node's globals are theirs.
  {
    files: ['bench/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
  },
  ...testRules,
)
