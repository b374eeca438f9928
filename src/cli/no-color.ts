/**
 * NO_COLOR (no-color.org): set and not empty, the terminal views and bars draw without ANSI
 * colour. chalk, under ink, reads only FORCE_COLOR, when it loads: so FORCE_COLOR=0 is set here,
 * imported first, unless the user set FORCE_COLOR (theirs wins, as the convention says).
 */
const noColor = process.env['NO_COLOR'];
if (noColor !== undefined && noColor !== '' && process.env['FORCE_COLOR'] === undefined) process.env['FORCE_COLOR'] = '0';

export {};
