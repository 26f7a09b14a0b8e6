// Stylesheets imported for their side effect: esbuild bundles them into dist/ui/app.css.
declare module '*.css';
