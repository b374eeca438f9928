/** The installed oo-ml's version (package.json), for `--version` and for what records must not outlive an upgrade. */
import { createRequire } from 'node:module';

// The CLI bundle (scripts/bundle-cli.mjs) defines this; the library reads package.json beside dist/.
declare const __OO_ML_VERSION__: string | undefined;

/** This oo-ml's version. */
export const OO_ML_VERSION: string =
  typeof __OO_ML_VERSION__ === 'string' ? __OO_ML_VERSION__ : (createRequire(import.meta.url)('../package.json') as { version: string }).version;
