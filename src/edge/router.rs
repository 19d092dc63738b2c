//! The worker's entry point: answers CORS preflights, routes `/api/v1/*` with the worker
//! crate's `Router`, and forwards every session request to the session's Durable Object.

use worker::{event, Context, Env, Headers, Method, Request, RequestInit, Response, RouteContext, Router};

use super::abuse;
use super::contract::{
    is_internal_header, limits_from_env, Op, HEADER_RELAY, HEADER_SECRET, HEADER_SESSION_ID, STATUS_TO_RELAY,
};
use super::respond::{error_response, CorsPolicy, OrInternal};
use crate::core::abuse::RequestLimit;
use crate::core::error::ApiError;
use crate::core::http::check_body_size;
use crate::core::keys::{random_token, SessionKey};
use crate::core::routes::{allowed_methods, is_standard_method, websocket_handshake};

/// The Durable Object namespace binding in wrangler.toml.
const BINDING: &str = "SESSIONS";
/// The relay objects' namespace binding (P18).
const RELAYS: &str = "RELAYS";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    console_error_panic_hook::set_once();
    let cors = CorsPolicy::from_var(env.var("ALLOWED_ORIGINS").ok().map(|v| v.to_string()));
    let origin = req.headers().get("Origin").ok().flatten();
    if req.method() == Method::Options {
        return cors.preflight(origin.as_deref());
    }
    let path = req.path();
    // worker's `Method` reads every method it does not know (QUERY, PROPFIND, ...) as GET.
    let resp = if !is_standard_method(&req.inner().method()) {
        not_allowed(&path)?
    } else {
        match routes().run(req, env).await {
            Ok(resp) => normalize(resp, &path)?,
            Err(e) => error_response(&ApiError::Internal(e.to_string()))?,
        }
    };
    Ok(cors.apply(resp, origin.as_deref()))
}

fn routes() -> Router<'static, ()> {
    Router::new()
        .get("/api/v1/health", |_, _| Response::from_json(&serde_json::json!({"ok": true})))
        .post_async("/api/v1/sessions", |req, ctx| async move { respond(create(req, ctx).await) })
        .get_async("/api/v1/sessions/:key", |req, ctx| async move { respond(forward(req, ctx, Op::State).await) })
        .put_async("/api/v1/sessions/:key", |req, ctx| async move { respond(forward(req, ctx, Op::State).await) })
        .patch_async("/api/v1/sessions/:key", |req, ctx| async move { respond(forward(req, ctx, Op::State).await) })
        .delete_async("/api/v1/sessions/:key", |req, ctx| async move { respond(forward(req, ctx, Op::State).await) })
        .post_async(
            "/api/v1/sessions/:key/rotate",
            |req, ctx| async move { respond(forward(req, ctx, Op::Rotate).await) },
        )
        .get_async("/api/v1/sessions/:key/ws", |req, ctx| async move { respond(forward(req, ctx, Op::Ws).await) })
        .get_async(
            "/api/v1/sessions/:key/events",
            |req, ctx| async move { respond(forward(req, ctx, Op::Events).await) },
        )
        .post_async("/api/v1/sessions/:key/messages", |req, ctx| async move {
            respond(forward(req, ctx, Op::Messages).await)
        })
        .get_async("/api/v1/sessions/:key/info", |req, ctx| async move { respond(forward(req, ctx, Op::Info).await) })
        .get_async("/api/v1/sessions/:key/versions", |req, ctx| async move {
            respond(forward(req, ctx, Op::Versions).await)
        })
        .post_async("/api/v1/sessions/:key/checkpoints", |req, ctx| async move {
            respond(forward(req, ctx, Op::Checkpoints).await)
        })
        .post_async(
            "/api/v1/sessions/:key/restore",
            |req, ctx| async move { respond(forward(req, ctx, Op::Restore).await) },
        )
        .post_async("/api/v1/sessions/:key/presence", |req, ctx| async move {
            respond(forward(req, ctx, Op::Presence).await)
        })
}

fn respond(result: Result<Response, ApiError>) -> worker::Result<Response> {
    result.or_else(|e| error_response(&e))
}

/// The Router answers unknown paths and wrong methods with plain text; every error here is JSON.
/// A 405 names the methods the path allows (`Allow`, required by RFC 9110 15.5.6).
fn normalize(resp: Response, path: &str) -> worker::Result<Response> {
    let is_json = resp.headers().get("Content-Type").ok().flatten().is_some_and(|t| t.contains("json"));
    match resp.status_code() {
        404 if !is_json => error_response(&ApiError::NotFound),
        405 if !is_json => not_allowed(path),
        _ => Ok(resp),
    }
}

/// 405 with the path's `Allow` header, or 404 when no route has this path.
fn not_allowed(path: &str) -> worker::Result<Response> {
    let Some(allow) = allowed_methods(path) else {
        return error_response(&ApiError::NotFound);
    };
    let mut resp = error_response(&ApiError::MethodNotAllowed)?;
    resp.headers_mut().set("Allow", allow)?;
    Ok(resp)
}

async fn create(req: Request, ctx: RouteContext<()>) -> Result<Response, ApiError> {
    let session_id = random_token()?;
    send_to_object(req, &ctx.env, &session_id, None, Op::Create).await
}

async fn forward(req: Request, ctx: RouteContext<()>, op: Op) -> Result<Response, ApiError> {
    let key = SessionKey::parse(ctx.param("key").map(String::as_str).unwrap_or(""))?;
    if op == Op::Ws {
        // Checked here, not in the object: forwarding an upgrade to the Durable Object makes
        // the runtime write its own Sec-WebSocket-* headers. Where the runtime hands this
        // worker a handshake of its own (wrangler dev's proxy does), the client's broken one is
        // answered by the runtime in text/plain, as docs/openapi.yaml says. No Upgrade at all
        // is the object's 426, after the key is checked.
        let h = |name: &str| req.headers().get(name).ok().flatten();
        if let Some(upgrade) = h("Upgrade") {
            websocket_handshake(
                Some(&upgrade),
                h("Sec-WebSocket-Version").as_deref(),
                h("Sec-WebSocket-Key").as_deref(),
            )?;
        }
    }
    send_to_object(req, &ctx.env, &key.session_id, Some(&key.secret), op).await
}

/// Sends the request to the session's Durable Object as an internal request naming the
/// operation, the session id and the presented secret. Bodies are size-checked here first.
async fn send_to_object(
    mut req: Request,
    env: &Env,
    session_id: &str,
    secret: Option<&str>,
    op: Op,
) -> Result<Response, ApiError> {
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        // Internal headers come from here only, never from a client.
        if !is_internal_header(&name) {
            headers.append(&name, &value).or_internal()?;
        }
    }
    headers.set(HEADER_SESSION_ID, session_id).or_internal()?;
    if let Some(secret) = secret {
        headers.set(HEADER_SECRET, secret).or_internal()?;
    }
    let method = req.method();
    let url = req.url().or_internal()?;
    let long_poll = url.query_pairs().any(|(k, _)| k == "after");
    if let Some(limit) = RequestLimit::of(method.as_ref(), op.as_str(), long_poll) {
        abuse::check(env, &req, limit).await?;
    }
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(headers.clone());
    if matches!(method, Method::Post | Method::Put | Method::Patch) {
        let limits = limits_from_env(env);
        let declared = req.headers().get("Content-Length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
        check_body_size(declared.unwrap_or(0), &limits)?;
        let body = req.bytes().await.or_internal()?;
        check_body_size(body.len(), &limits)?;
        init.with_body(Some(worker::js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    let path = format!("https://session.internal/{}{query}", op.as_str());
    let inner = Request::new_with_init(&path, &init).or_internal()?;
    let stub = env.durable_object(BINDING).and_then(|ns| ns.id_from_name(session_id)?.get_stub()).or_internal()?;
    let resp = stub.fetch_with_request(inner).await.or_internal()?;
    // A read-key viewer of a large audience is placed in a relay (P18): same request, there.
    let relay = resp.headers().get(HEADER_RELAY).ok().flatten().filter(|_| resp.status_code() == STATUS_TO_RELAY);
    let Some(k) = relay else { return Ok(resp) };
    headers.set(HEADER_RELAY, &k).or_internal()?;
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    let inner = Request::new_with_init(&path, &init).or_internal()?;
    let name = format!("{session_id}:r{k}");
    let stub = env.durable_object(RELAYS).and_then(|ns| ns.id_from_name(&name)?.get_stub()).or_internal()?;
    stub.fetch_with_request(inner).await.or_internal()
}
