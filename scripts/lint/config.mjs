// ESLint for the whole repository, loaded by the root eslint.config.mjs (which first points `typescript` at this
// workspace's TypeScript 5.9: typescript-eslint parses with its compiler API, which TypeScript 7 does not have).
// Like Effect's own repository: eslint:recommended, typescript-eslint's recommended rules without type
// information (type-aware rules would need a TypeScript program per project: too slow for every `npm test`),
// and `@effect/dprint` as the formatter (120 columns, no semicolons, double quotes). `npm run format` applies it.
import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import globals from "globals"
import tseslint from "typescript-eslint"

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/dist/**",
      "**/build/**",
      "**/.wrangler/**",
      "**/coverage/**",
      ".toolchain/**",
      ".porter/**",
      ".scratch/**",
      "scratch/**"
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...effectEslint.configs.dprint,
  {
    files: ["**/*.{ts,mts,cts,js,mjs,cjs}"],
    languageOptions: {
      parser: tseslint.parser,
      ecmaVersion: "latest",
      sourceType: "module",
      globals: globals.node
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "no-fallthrough": "off",
      "no-irregular-whitespace": "off",
      // Porter's sanitizers match control characters on purpose (\x00-\x1f in environment names and values).
      "no-control-regex": "off",
      "object-shorthand": "error",
      "prefer-destructuring": "off",
      "sort-imports": "off",
      "no-unused-vars": "off",
      "require-yield": "off",
      "prefer-rest-params": "off",
      "prefer-spread": "off",
      // The package's index loads every module it has (its cluster and RPC modules among them): ~9 MB more live
      // heap and ~150 ms more start-up for a Node host than the modules it uses.
      "no-restricted-imports": ["error", {
        paths: [{
          name: "@effect/platform-node",
          message:
            "Import the module itself: `import * as NodeHttpServer from \"@effect/platform-node/NodeHttpServer\"`"
        }]
      }],
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.property.name='push'] > SpreadElement.arguments",
          message: "Do not use spread arguments in Array.push"
        }
      ],
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-unsafe-function-type": "off",
      "@typescript-eslint/no-wrapper-object-types": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/ban-ts-comment": "off",
      "@typescript-eslint/no-array-constructor": "off",
      "@typescript-eslint/no-namespace": "off",
      "@effect/dprint": [
        "error",
        {
          config: {
            indentWidth: 2,
            lineWidth: 120,
            semiColons: "asi",
            quoteStyle: "alwaysDouble",
            trailingCommas: "never",
            operatorPosition: "maintain",
            "arrowFunction.useParentheses": "force"
          }
        }
      ]
    }
  }
)
