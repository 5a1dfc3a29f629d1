// The console builds into the CLI's embed directory. The output must be a
// pure function of the sources and the lockfile (CI rebuilds it and diffs):
// content-hashed names, no timestamps, no source maps with absolute paths.
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "./",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../tools/slipway/internal/webui/dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2500,
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev` on :5173 talks to `slipway dev`'s console API on :8080.
    proxy: { "/api": { target: "http://127.0.0.1:8080", changeOrigin: true } },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
