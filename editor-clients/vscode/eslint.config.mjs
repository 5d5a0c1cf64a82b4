// Lint for the extension's TypeScript, next to `tsc --noEmit` (strict) which checks the types.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "out/", "node_modules/", "esbuild.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["src/**/*.ts", "test/**/*.ts"],
    rules: {
      eqeqeq: ["error", "always"],
      "no-console": "error",
    },
  },
);
