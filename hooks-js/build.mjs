// Builds a JavaScript hook into a WebAssembly component on the edge:hooks contract:
//   node hooks-js/build.mjs <entry.js> <out.wasm>
// The entry module may import 'edge-hooks' (this directory's edge-hooks.js) and its own files;
// they are bundled into one component with the StarlingMonkey engine (componentize-js).
import { componentize } from '@bytecodealliance/componentize-js';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [entry, out] = process.argv.slice(2);
if (!entry || !out) {
  console.error('usage: node hooks-js/build.mjs <entry.js> <out.wasm>');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
// The entry's `from 'edge-hooks'` names this directory's SDK. The engine loads modules from the
// entry's directory only, so the SDK is staged there beside a copy of the entry that imports it.
const dir = dirname(resolve(entry));
const sdk = `.edge-hooks-sdk-${process.pid}.js`;
const staged = join(dir, `.edge-hook-entry-${process.pid}.js`);
const source = (await readFile(entry, 'utf8')).replaceAll(
  /from\s+['"]edge-hooks['"]/g,
  `from './${sdk}'`,
);
try {
  await writeFile(join(dir, sdk), await readFile(join(here, 'edge-hooks.js')));
  await writeFile(staged, source);
  const { component } = await componentize({
    sourcePath: staged,
    witPath: join(here, '..', 'hooks-sdk', 'wit'),
    worldName: 'hook',
    // Hooks get WASI's stdio, clocks and random, as Rust hooks do; no HTTP.
    disableFeatures: ['http', 'fetch-event'],
  });
  await writeFile(out, component);
} finally {
  await rm(staged, { force: true });
  await rm(join(dir, sdk), { force: true });
}
