// Lint and format check for src/, test/, bench/ and examples/ (`npm run lint`, run by .ci/run).
// typescript-eslint with type information: the rules that need the compiler's types
// (no-floating-promises, no-misused-promises, await-thenable) catch the async bugs a server
// like this one has, and the whole tree lints in about half a minute on two cores.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test-output/', 'bench/results/', 'data/', 'registry/'] },
  // A disable comment that no longer silences anything is an error, so none outlives its reason.
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Async functions without await are deliberate: they implement Promise-returning interfaces
      // (caches, stores, authenticators, fastify plugins) and turn a throw into a rejection.
      '@typescript-eslint/require-await': 'off',
      // An `_` name marks a parameter an interface hands over but this implementation needs not,
      // and a rest sibling drops fields from a copy.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Interfaces here declare methods that closures implement (metrics, re-checks, harnesses):
      // every hit was one of those, never a class method that needs its `this`.
      '@typescript-eslint/unbound-method': 'off',
      // Every hit was `String(x ?? '')` on an upstream value typed unknown, which fails closed;
      // restrict-template-expressions still catches an object printed into a message.
      '@typescript-eslint/no-base-to-string': 'off',
      // An assertion that changes no type is noise, not a bug.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // `Promise.all(xs.map((x) => (cond ? write(x) : undefined)))` writes only where there is something to write.
      '@typescript-eslint/await-thenable': ['error', { allowMixedPromiseArrays: true }],
      // Every control character in a regular expression here is one rejected on purpose
      // (account names, usernames, text printed to a terminal).
      'no-control-regex': 'off',
    },
  },
  {
    // @peculiar/x509's key types name WebCrypto's CryptoKey, which lib ES2023 lacks: they are
    // error types here, and the casts that bridge them cannot be anything else.
    files: ['src/keys/certificates.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    // Tests read parsed JSON and YAML (response bodies, manifests) and assert on it: the
    // assertion is the check, so `any` there is not a hole.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // The benchmark and the examples are plain JavaScript run by Node: no types to check.
    files: ['**/*.mjs', '**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
  {
    // Format: the conventions the whole tree already follows, checked, never rewritten. `indent`
    // is left out: it fights hand-wrapped argument lists, which the code uses for readability.
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      '@stylistic/semi': ['error', 'always'],
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/arrow-parens': ['error', 'always'],
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/eol-last': 'error',
      '@stylistic/no-tabs': 'error',
      '@stylistic/linebreak-style': ['error', 'unix'],
    },
  },
);
