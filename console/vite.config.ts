import { defineConfig } from 'vite';

// Preact through the automatic JSX runtime (no Babel); the build goes to console/dist, which the stack serves at /.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts or styles: the stack's Content-Security-Policy allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    // The chart code (Vega-Lite and Vega, ~280 KB compressed) is one chunk loaded by the energy page only.
    chunkSizeWarningLimit: 900,
  },
});
