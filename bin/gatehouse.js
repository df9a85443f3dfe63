#!/usr/bin/env node
// The published entry runs the compiled CLI (`npm run build` writes dist/).
import '../dist/cli.js'
