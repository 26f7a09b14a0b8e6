// Stylesheets imported for their side effect: esbuild bundles them into dist/web/app.css.
declare module '*.css';
