// Bundles the extension (dist/extension.js) or, with --tests, the unit tests (out/test/*.test.js).
import * as esbuild from "esbuild";
import { readdirSync } from "node:fs";

const args = new Set(process.argv.slice(2));
const common = { bundle: true, platform: "node", format: "cjs", target: "node18", logLevel: "warning" };

if (args.has("--tests")) {
  const entryPoints = readdirSync("test").filter((f) => f.endsWith(".test.ts")).map((f) => `test/${f}`);
  await esbuild.build({ ...common, entryPoints, outdir: "out/test", external: ["vscode"] });
} else {
  const options = {
    ...common,
    entryPoints: ["src/extension.ts"],
    outfile: "dist/extension.js",
    external: ["vscode"],
    minify: args.has("--production"),
    sourcemap: !args.has("--production"),
  };
  if (args.has("--watch")) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
  } else {
    await esbuild.build(options);
  }
}
