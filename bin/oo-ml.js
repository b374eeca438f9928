#!/usr/bin/env node
// Launcher: all behaviour lives in the compiled library (npm install builds dist/ via `prepare`).
import '../dist/cli/main.js';
