#!/usr/bin/env node
// Launcher: all behaviour lives in the compiled library; this runs its CLI bundle
// (npm install builds dist/ and dist/bundle/ via `prepare`; scripts/bundle-cli.mjs says why a bundle).
import '../dist/bundle/oo-ml.js';
