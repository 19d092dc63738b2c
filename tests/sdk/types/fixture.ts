// Type test fixture (tests/sdk/types.test.mjs compiles it with tsc --noEmit against the
// declarations generated from the SDK's JSDoc): the state's type flows through every call.
import { createSession, joinSession, Session, SyncError } from 'session-sync';
import { useSessionState, useSession, usePresence, useStatus, useAudience } from 'session-sync/react';

type Counter = { count: number; meta?: { title: string; tags?: string[] } };

export async function main(): Promise<void> {
  const s = await createSession<Counter>({ state: { count: 0 }, baseUrl: 'http://localhost:8787' });
  s.subscribe((st, info) => { const n: number = st.count; void n; void info.version; });
  const now: Counter = s.state;
  void now;
  await s.patch({ count: 1 });
  await s.patch({ meta: { title: 'x' } });
  await s.patch({ meta: { tags: ['a'] } });
  await s.patch({ meta: null });
  // @ts-expect-error count is a number, not a string
  await s.patch({ count: 'x' });
  // @ts-expect-error no such member in the state
  await s.patch({ nope: 1 });
  await s.patch([{ op: 'add', path: '/count', value: 3 }]);
  await s.set({ count: 2 });
  // @ts-expect-error set takes a whole state
  await s.set({ meta: { title: 'y' } });
  const r = await s.update((st) => ({ ...st, count: st.count + 1 }));
  void r.cancelled;
  // @ts-expect-error update must return the state's type
  await s.update(() => ({ count: 'x' }));
  const sent: boolean = s.broadcast({ cursor: [1, 2] }, { volatile: true, to: 'c_x' });
  void sent;
  // @ts-expect-error volatile is a boolean
  s.broadcast({ cursor: [1, 2] }, { volatile: 'yes' });
  const watching: number = s.audience;
  const offAudience: () => void = s.on('audience', (n: number) => void n);
  void watching; offAudience();
  // @ts-expect-error the audience is a count
  const wrong: string = s.audience;
  void wrong;
  const j: Session<Counter> = await joinSession<Counter>('k.k', { transport: 'sse', volatileThrottleMs: 100 });
  void j;
  try { await s.patch({ count: 2 }); } catch (e) { if (e instanceof SyncError) void e.code; }
}

export function Counter(): number | undefined {
  const session = useSession<Counter>({ key: 'a.b' });
  const count: number | undefined = useSessionState((st: Counter) => st.count, session);
  const everyone = usePresence(session);
  const status: 'connecting' | 'open' | 'offline' | 'closed' = useStatus(session);
  const viewers: number = useAudience(session);
  void everyone; void status; void viewers;
  return count;
}
