// Types of the package entry points (js/web.js and js/node.js).
import type { InitInput, InitOutput, SyncInitInput, Engine as RawEngine } from '../shopai_wasm.js';
export type * from '../shopai_wasm.js';

/** Load the wasm module (no argument: next to the package; Node reads it from disk). */
export default function init(input?: InitInput | Promise<InitInput> | { module_or_path: InitInput | Promise<InitInput> }): Promise<InitOutput>;
export function initSync(module: SyncInitInput | { module: SyncInitInput }): InitOutput;

export interface LoadOptions { cache?: boolean; fetch?: typeof fetch }
export interface UpdateResult { updated: boolean; version: string; downloaded: number }

/** The engine: everything the wasm Engine does, plus published-bundle loading and updates. */
export interface Engine extends Omit<RawEngine, 'free'> {
  checkForUpdate(): Promise<UpdateResult>;
  source(): { sha256: string; fromCache: boolean; downloaded: number } | null;
  free(): void;
  readonly raw: RawEngine;
}
export const Engine: {
  fromBytes(bytes: Uint8Array): Engine;
  /** A LATEST pointer (sha256-verified, cached by hash) or a bundle URL. */
  fromUrl(url: string, options?: LoadOptions): Promise<Engine>;
};

export function sha256(bytes: Uint8Array): Promise<string>;
export function fetchPublished(url: string, options?: LoadOptions): Promise<{ bytes: Uint8Array; version: string | null; sha256: string; pointerUrl: string | null; fromCache: boolean; downloaded: number }>;
export interface FeedbackEvent {
  user_id?: string; session_id?: string; product_id: string;
  event: 'impression' | 'click' | 'add_to_cart' | 'purchase' | 'not_relevant';
  query?: string; position?: number; surface?: 'search' | 'recommendations'; version: string; timestamp?: number | string;
}
/** POST events to the edge's /feedback; rejects with the edge's message (503: retry later). */
export function postFeedback(edgeUrl: string, events: FeedbackEvent | FeedbackEvent[], options?: { fetch?: typeof fetch }): Promise<{ accepted: number; object: string }>;
