import svelte from 'eslint-plugin-svelte';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'release/', 'renderer/dist/', 'coverage/', 'test-output/'] },
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,
  {
    // Svelte components: TypeScript in <script lang="ts">, runes in .svelte.ts modules.
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] } },
    rules: {
      // SvelteKit's router rule; this renderer is a plain Vite app with hash links (#/patients/1).
      'svelte/no-navigation-without-resolve': 'off',
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Only the shell may touch Electron; everything else stays a plain, testable Node module.
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'Only electron/main.ts, electron/preload.ts and electron/protocol.ts may import electron.' }] }],
    },
  },
  {
    files: ['electron/main.ts', 'electron/preload.ts', 'electron/protocol.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // common/ (the contract, domain records, enums) runs in the renderer and the sandboxed preload as well as in Node: browser-safe only.
    files: ['common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'common/ is browser-safe: no electron.' }],
          patterns: [
            { group: ['node:*'], message: 'common/ is browser-safe: no Node built-ins.' },
            { group: ['../*'], message: 'common/ imports only itself and browser-safe packages.' },
          ],
        },
      ],
    },
  },
  {
    // The app and its clinical CLI never load the model factory.
    files: ['electron/**/*.ts', 'renderer/**/*.ts', 'common/**/*.ts'],
    ignores: ['common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'Only electron/main.ts, electron/preload.ts and electron/protocol.ts may import electron.' }],
          patterns: [{ group: ['**/training/*', '**/training/**'], message: 'The app never imports the model factory (training/).' }],
        },
      ],
    },
  },
  {
    files: ['electron/main.ts', 'electron/preload.ts', 'electron/protocol.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/training/*', '**/training/**'], message: 'The app never imports the model factory (training/).' }] }] },
  },
);
