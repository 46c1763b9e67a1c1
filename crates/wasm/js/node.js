// Entry point for Node: `await init()` reads shopai_wasm_bg.wasm from the package folder (the web
// glue would `fetch` a file: URL, which Node's fetch refuses).
import { readFile } from 'node:fs/promises';
import initWasm, * as glue from '../shopai_wasm.js';
import { makeEngine } from './release.js';

export { initSync } from '../shopai_wasm.js';
export { postFeedback, fetchPublished, sha256 } from './release.js';
export const Engine = makeEngine(glue.Engine);

export default async function init(input) {
  if (input !== undefined) return initWasm(input);
  const bytes = await readFile(new URL('../shopai_wasm_bg.wasm', import.meta.url));
  return initWasm({ module_or_path: bytes });
}
