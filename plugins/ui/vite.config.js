// Builds src/main.jsx into dist/models.js: a UMD library that sets globalThis.AirflowPlugin
// to the page component. React, React Router, Chakra UI and Emotion are the Airflow UI's own
// (exposed on globalThis by the host), so they stay out of the bundle and the page gets
// Airflow's theme in light and dark mode.
import { resolve } from "node:path";
import { defineConfig } from "vite";

const globals = {
  react: "React",
  "react-dom": "ReactDOM",
  "react/jsx-runtime": "ReactJSXRuntime",
  "react-router-dom": "ReactRouterDOM",
  "@chakra-ui/react": "ChakraUI",
  "@emotion/react": "EmotionReact",
};

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "react" },
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    lib: {
      entry: resolve(import.meta.dirname, "src/main.jsx"),
      name: "AirflowPlugin",
      formats: ["umd"],
      fileName: () => "models.js",
    },
    rollupOptions: {
      external: Object.keys(globals),
      output: { globals, exports: "default" },
    },
  },
});
