// Entry point for browsers and bundlers (Vite, esbuild, webpack): `await init()` fetches
// shopai_wasm_bg.wasm next to the module (bundlers rewrite `new URL(…, import.meta.url)`).
import initWasm, * as glue from '../shopai_wasm.js';
import { makeEngine } from './release.js';

export { initSync } from '../shopai_wasm.js';
export { postFeedback, fetchPublished, sha256 } from './release.js';
export const Engine = makeEngine(glue.Engine);
export default initWasm;
