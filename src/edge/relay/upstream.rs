//! A relay's one connection to its session object (P18): opened with the first viewer's read
//! secret and the relay's index, read by one task that feeds every frame to `core::relay`,
//! reopened from the copy's version (an exact resume) when it drops or updates were missed,
//! and closed with the last viewer. An outgoing WebSocket keeps the object in memory, which is
//! why it never outlives the viewers.

use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::StreamExt;
use worker::{wasm_bindgen_futures, Delay, Headers, Request, RequestInit, WebSocket, WebsocketEvent};

use super::{Link, Shared};
use crate::core::error::ApiError;
use crate::core::keys::constant_time_eq;
use crate::core::relay::Next;
use crate::core::room::Effects;
use crate::edge::contract::{Op, HEADER_RELAY, HEADER_SECRET, HEADER_SESSION_ID};
use crate::edge::host::now_ms;
use crate::edge::respond::OrInternal;

/// Attempts to reach the session before the viewers are sent away.
const MAX_ATTEMPTS: u32 = 5;

/// The code of a connection that ended without a close frame (an error, or its end).
const ABNORMAL: u16 = 1006;

/// Resolves once the relay holds a copy of the session, connecting upstream with `link` if
/// no connection is open. A viewer with another secret than the open connection's waits for
/// that connection to end (a key rotation is under way): `unavailable`, retry.
pub(super) async fn ensure(shared: &Rc<Shared>, link: Link) -> Result<(), ApiError> {
    if let Some(open) = shared.link.borrow().as_ref().filter(|_| shared.running.get()) {
        let same = open.session_id == link.session_id
            && open.index == link.index
            && constant_time_eq(open.secret.as_bytes(), link.secret.as_bytes());
        if !same {
            return Err(ApiError::Unavailable("the relay is serving another key".into()));
        }
        if shared.relay.borrow().is_ready() {
            return Ok(());
        }
    }
    let (tx, rx) = oneshot::channel();
    shared.waiters.borrow_mut().push(tx);
    if !shared.running.get() {
        shared.running.set(true);
        *shared.link.borrow_mut() = Some(link);
        wasm_bindgen_futures::spawn_local(run(shared.clone()));
    }
    rx.await.unwrap_or_else(|_| Err(ApiError::Internal("relay: the upstream task ended".into())))
}

/// Closes the upstream connection and forgets the copy (no viewer is left).
pub(super) fn release(shared: &Shared) {
    if let Some(ws) = shared.host.upstream.borrow_mut().take() {
        let _ = ws.close(Some(1000), Some("no viewers"));
    }
    shared.relay.borrow_mut().forget();
    shared.host.room.borrow_mut().upstream_down(false);
}

/// The upstream task: connect, read until the connection ends, reconnect while someone
/// needs it.
async fn run(shared: Rc<Shared>) {
    let mut failures = 0u32;
    loop {
        match connect(&shared).await {
            Ok(ws) => {
                failures = 0;
                if pump(&shared, &ws).await == Next::Stop {
                    break;
                }
            }
            Err(e) => {
                worker::console_error!("relay: cannot reach the session: {e}");
                failures += 1;
                let fatal = matches!(e, ApiError::SessionNotFound | ApiError::InvalidKey);
                if fatal || failures >= MAX_ATTEMPTS {
                    give_up(&shared, e);
                    break;
                }
            }
        }
        let idle = shared.host.room.borrow().is_empty() && shared.waiters.borrow().is_empty();
        if idle {
            break;
        }
        Delay::from(Duration::from_millis(50 << failures.min(5))).await;
    }
    release(&shared);
    shared.running.set(false);
    notify(&shared, Err(ApiError::Unavailable("the relay lost its session".into())));
}

/// Viewers waiting are refused with `err`; connected ones are told the session is gone (or,
/// when it may come back, closed with 1012 to try again through the router).
fn give_up(shared: &Shared, err: ApiError) {
    let fx = {
        let mut room = shared.host.room.borrow_mut();
        let mut relay = shared.relay.borrow_mut();
        match err {
            ApiError::SessionNotFound => relay.on_upstream_lost(&mut room, &err),
            _ => {
                relay.forget();
                room.restart_all()
            }
        }
    };
    shared.host.run(fx);
    notify(shared, Err(err));
}

fn notify(shared: &Shared, result: Result<(), ApiError>) {
    for tx in shared.waiters.borrow_mut().drain(..) {
        let _ = tx.send(result.clone());
    }
}

/// Opens the WebSocket to the session object, resuming from the copy's version.
async fn connect(shared: &Shared) -> Result<WebSocket, ApiError> {
    let link = shared.link.borrow().clone().ok_or_else(|| ApiError::Internal("relay: no link".into()))?;
    let since = shared.relay.borrow().since().map(|v| format!("?since={v}")).unwrap_or_default();
    let headers = Headers::new();
    for (name, value) in [
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        // A nonce the handshake check accepts; between two objects nobody proxies it.
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        (HEADER_SESSION_ID, &link.session_id),
        (HEADER_SECRET, &link.secret),
        (HEADER_RELAY, &link.index.to_string()),
    ] {
        headers.set(name, value).or_internal()?;
    }
    let mut init = RequestInit::new();
    init.with_headers(headers);
    let req =
        Request::new_with_init(&format!("https://session.internal/{}{since}", Op::Ws.as_str()), &init).or_internal()?;
    let stub = shared
        .env
        .durable_object("SESSIONS")
        .and_then(|ns| ns.id_from_name(&link.session_id)?.get_stub())
        .or_internal()?;
    let mut resp = stub.fetch_with_request(req).await.or_internal()?;
    if resp.status_code() != 101 {
        let status = resp.status_code();
        let body = resp.text().await.unwrap_or_default();
        return Err(if status == 404 {
            ApiError::SessionNotFound
        } else {
            ApiError::Internal(format!("relay: upstream answered {status}: {body}"))
        });
    }
    let ws = resp.websocket().ok_or_else(|| ApiError::Internal("relay: no upstream socket".into()))?;
    ws.accept().or_internal()?;
    *shared.host.upstream.borrow_mut() = Some(ws.clone());
    Ok(ws)
}

/// Reads the connection until it ends; what to do next.
async fn pump(shared: &Shared, ws: &WebSocket) -> Next {
    let mut events = match ws.events() {
        Ok(events) => events,
        Err(e) => {
            worker::console_error!("relay: upstream events: {e:?}");
            return Next::Reconnect;
        }
    };
    let mut ready = shared.relay.borrow().is_ready();
    while let Some(event) = events.next().await {
        let (fx, next) = match event {
            Ok(WebsocketEvent::Message(m)) => {
                let Some(text) = m.text() else { continue };
                let mut room = shared.host.room.borrow_mut();
                shared.relay.borrow_mut().on_upstream(&mut room, &text, now_ms())
            }
            Ok(WebsocketEvent::Close(c)) => {
                if c.code() != 1000 {
                    worker::console_warn!("relay: upstream closed {} {}", c.code(), c.reason());
                }
                closed(shared, c.code())
            }
            Err(e) => {
                worker::console_error!("relay: upstream error: {e:?}");
                closed(shared, ABNORMAL)
            }
        };
        shared.host.run(fx);
        if !ready && shared.relay.borrow().is_ready() {
            ready = true;
            notify(shared, Ok(()));
        }
        if next != Next::Continue {
            if let Some(open) = shared.host.upstream.borrow_mut().take() {
                let _ = open.close(Some(1000), Some("reconnecting"));
            }
            return next;
        }
    }
    shared.host.upstream.borrow_mut().take();
    let (fx, next) = closed(shared, ABNORMAL);
    shared.host.run(fx);
    next
}

/// The connection ended with `code`: what the copy and the viewers make of it.
fn closed(shared: &Shared, code: u16) -> (Effects, Next) {
    let mut room = shared.host.room.borrow_mut();
    shared.relay.borrow_mut().on_upstream_closed(&mut room, code, now_ms())
}
