/** The installed oo-ml's version (package.json), for `--version` and for what records must not outlive an upgrade. */
import { createRequire } from 'node:module';

/** This oo-ml's version. */
export const OO_ML_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
