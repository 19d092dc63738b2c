// TypeScript declarations for www/sdk/session-sync.js (the browser client SDK of session-sync).

export type Role = 'admin' | 'write' | 'read';
export type Status = 'connecting' | 'open' | 'offline' | 'closed';
export type TransportKind = 'websocket' | 'sse' | 'longpoll';
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One operation of a JSON Patch (RFC 6902). */
export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: JsonValue;
  from?: string;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** Share of each delay (0..1) that is random. */
  jitter: number;
}

export interface Options {
  /** Origin of the server; '' means the page's own origin. */
  baseUrl: string;
  apiPath: string;
  transport: 'auto' | TransportKind;
  backoff: BackoffOptions;
  /** Reconnects in a row that failed the same way before the SDK stops and emits `error` `reconnect_failed` (10). */
  maxReconnectAttempts: number;
  /** A connection open this long resets that count (5000). */
  stableConnectionMs: number;
  connectTimeoutMs: number;
  wsFailuresBeforeFallback: number;
  sseFailuresBeforeFallback: number;
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  longPollWaitSeconds: number;
  maxInFlight: number;
  /** update(fn) starts over after conflicts until it applies (Infinity), or gives up after this many. */
  maxUpdateAttempts: number;
  presenceThrottleMs: number;
  resendDelayMs: number;
  reconnectOnVisible: boolean;
  createRole: 'write' | 'admin';
  /** createSession puts `#key=<write>&read=<read>` in the page's URL (true). */
  hash: boolean;
  /** Coalesced WebSocket updates (protocol P15): fewer frames, up to one server tick later. */
  batch: boolean;
}

export declare const DEFAULTS: Readonly<Options>;

export interface SessionKeys { admin: string; write: string; read: string }

export interface CreateOptions extends Partial<Omit<Options, 'backoff'>> {
  backoff?: Partial<BackoffOptions>;
  /** Initial state (default {}). */
  state?: JsonValue;
  /** Idle time to live in seconds. */
  ttl?: number;
  /** Strict sessions reject writes without a base version. */
  strict?: boolean;
}

export interface JoinOptions extends Partial<Omit<Options, 'backoff'>> {
  backoff?: Partial<BackoffOptions>;
  /** false: return at once instead of waiting for the first state. */
  wait?: boolean;
}

export interface WriteResult { version: number; opId: string; duplicate?: boolean }
export interface UpdateResult { version?: number; opId?: string; duplicate?: boolean; cancelled?: boolean }
export interface ChangeInfo { version: number; source: 'initial' | 'local' | 'remote' | 'ack' | 'rollback' | 'rebase' | 'resume' | 'snapshot' }
export interface PresenceClient<P = any> { clientId: string; data: P; self: boolean }
export interface PresenceEvent<P = any> {
  event: 'join' | 'update' | 'leave' | 'sync' | 'self';
  clientId?: string | null;
  data?: P;
  list: PresenceClient<P>[];
}

/**
 * Error of a rejected write or failed request; `code` is the server's error code, or the SDK's:
 * `message_too_large` / `presence_too_large` (refused before sending: over the welcome's limits),
 * `reconnect_failed` (the same failure kept repeating), `closed`, `invalid_key` (a mangled `#key=`).
 */
export declare class SyncError extends Error {
  constructor(code: string, message?: string, extra?: { status?: number; currentVersion?: number; opId?: string; bytes?: number; limit?: number; cause?: unknown });
  code: string;
  status?: number;
  currentVersion?: number;
  opId?: string;
  /** Size of the refused frame and the limit it broke (message_too_large). */
  bytes?: number;
  limit?: number;
}

/** The server's limits from `welcome`. */
export interface Limits { maxMessageBytes: number; maxMessagesPerSecond: number; maxPresenceBytes: number; maxClients: number; maxStateBytes: number; maxStateDepth: number; maxBodyBytes: number }

export declare class Presence<P = any> {
  /** This client's id (null before the first welcome). */
  readonly self: string | null;
  /** clientId -> presence value. */
  clients: Map<string, P>;
  /** This client's own value. */
  data: P | null;
  readonly size: number;
  list(): PresenceClient<P>[];
  others(): PresenceClient<P>[];
  get(clientId: string): P | undefined;
  /** Shares this client's value (throttled; the latest value is always sent). False (and `error`) when over maxPresenceBytes. */
  set(data: P): boolean;
}

export interface SessionEvents<S, P> {
  change: (state: S, info: ChangeInfo) => void;
  status: (status: Status) => void;
  presence: (event: PresenceEvent<P>) => void;
  message: (data: any, meta: { from: string }) => void;
  reject: (error: SyncError) => void;
  error: (error: SyncError) => void;
  welcome: (frame: any) => void;
  transport: (kind: TransportKind) => void;
  pending: (count: number) => void;
  text: (line: string) => void;
}

/** One checkpoint of the version history. */
export interface Checkpoint {
  version: number;
  updatedAt: number;
  label: string | null;
  stateBytes: number;
}

/** Version history over HTTP (`session.history`); every call rejects with a SyncError on an error status. */
export declare class History<S = any> {
  /** Checkpoints newest first; pass `next` as `before` for the next page (`limit` 1 to 100, default 20). */
  list(opts?: { before?: number; limit?: number }): Promise<{ versions: Checkpoint[]; next: number | null }>;
  /** The state at checkpoint `version`; rejects `version_not_found` when none is kept. */
  get(version: number): Promise<Checkpoint & { state: S; role: Role }>;
  /** Checkpoints the current state now (write key; label at most 100 characters). */
  checkpoint(label?: string): Promise<Checkpoint>;
  /** Makes checkpoint `version` the current state as a new version (write key); undone by restoring the checkpoint it took first. */
  restore(version: number, opts?: { ifMatch?: number | '*' }): Promise<{ version: number; updatedAt: number }>;
}

export declare class Session<S = any, P = any> {
  constructor(key: string, opts?: JoinOptions & { keys?: SessionKeys; initialState?: S; initialVersion?: number });
  readonly key: string;
  readonly sessionId: string;
  readonly options: Options;
  /** All three keys when this client created the session. */
  keys: SessionKeys | null;
  clientId: string | null;
  role: Role | null;
  status: Status;
  /** Why the session closed, or why it stopped reconnecting (`reconnect_failed`). */
  error: SyncError | null;
  /** The server's limits from the last welcome (null before it). */
  limits: Limits | null;
  transport: TransportKind;
  presence: Presence<P>;
  /** Version history over HTTP: list, get, checkpoint, restore. */
  history: History<S>;
  /** Resolves on the first welcome; rejects if the session does not exist. */
  ready: Promise<Session<S, P>>;
  /** Confirmed state with pending local writes applied. */
  readonly state: S;
  /** Last server version applied. */
  readonly version: number;
  readonly confirmedState: S;
  readonly pendingCount: number;
  readonly canWrite: boolean;

  on<K extends keyof SessionEvents<S, P>>(type: K, fn: SessionEvents<S, P>[K]): () => void;
  off<K extends keyof SessionEvents<S, P>>(type: K, fn: SessionEvents<S, P>[K]): void;
  /** Calls the listener now (when a state is known) and on every change; returns unsubscribe. */
  subscribe(listener: (state: S, info: ChangeInfo) => void): () => void;
  set(state: S, opts?: { baseVersion?: number }): Promise<WriteResult>;
  /** An object is a JSON Merge Patch, an array a JSON Patch. */
  patch(patch: Partial<S> | Record<string, JsonValue> | JsonPatchOp[], opts?: { baseVersion?: number }): Promise<WriteResult>;
  /** Read-modify-write with rebase and retry on conflict; return undefined from fn to cancel. */
  update(fn: (state: S) => S | undefined): Promise<UpdateResult>;
  /** False when not connected, or over maxMessageBytes (then also `error` `message_too_large`). */
  broadcast(data: any, opts?: { to?: string }): boolean;
  /** Connects again at once (after `reconnect_failed`, or instead of waiting for the backoff). */
  reconnect(): void;
  close(): void;
}

export declare function createSession<S = any, P = any>(opts?: CreateOptions): Promise<Session<S, P>>;
export declare function joinSession<S = any, P = any>(key: string, opts?: JoinOptions): Promise<Session<S, P>>;
/** Joins the session in `#key=`, or creates one and puts its keys there; rejects `invalid_key` for a mangled key. */
export declare function openSession<S = any, P = any>(opts?: CreateOptions): Promise<Session<S, P>>;
export declare function request(method: string, path: string, opts?: { body?: unknown; headers?: Record<string, string>; baseUrl?: string; apiPath?: string; signal?: AbortSignal }): Promise<any>;
export declare function getState(key: string, opts?: { baseUrl?: string; apiPath?: string }): Promise<{ state: any; version: number; updatedAt: number; expiresAt: number; role: Role }>;
export declare function getInfo(key: string, opts?: { baseUrl?: string; apiPath?: string }): Promise<{
  version: number; updatedAt: number; expiresAt: number; stateBytes: number;
  clients: Array<{ clientId: string; role: Role; data: any }>; recentOps: any[];
}>;
export declare function deleteSession(adminKey: string, opts?: { baseUrl?: string; apiPath?: string }): Promise<null>;
export declare function sessionIdOf(key: string): string;
export declare function keyFromHash(hash?: string): string | null;
/** The `invalid_key` error when the fragment has a `key=` that is not a key, else null. */
export declare function hashKeyProblem(hash?: string): SyncError | null;
/** Puts `#key=<write>&read=<read>` in the address bar (history.replaceState, no reload). */
export declare function putKeysInHash(keys: Partial<SessionKeys>): void;
export declare function shareLinks(keys: Partial<SessionKeys>, pageUrl?: string): { write?: string; read?: string };
export declare function opFrame(op: any): any;
export declare function applyMergePatch(target: unknown, patch: unknown): unknown;
export declare function applyJsonPatch(doc: unknown, ops: JsonPatchOp[]): unknown;
export declare function clone<T>(value: T): T;
export declare function deepEqual(a: unknown, b: unknown): boolean;
