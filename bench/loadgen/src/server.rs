//! Native Rust WebSocket server with the same frames as the session service (docs/protocol.md):
//! the machine's ceiling for the same work without workerd, wasm or storage. State, version and
//! op log are kept in memory; every write is still parsed, merged, re-serialized (as the service
//! must do to store it) and broadcast as one `update` frame to every client.
//!
//! Routes: `POST /api/v1/sessions` (201 with keys) and `GET /api/v1/sessions/{key}/ws?since=V`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

const MAX_STATE_BYTES: usize = 262_144;
const OPLOG_MAX_OPS: usize = 1000;

struct Client {
    id: String,
    tx: mpsc::UnboundedSender<Message>,
    data: Value,
}

struct Session {
    version: u64,
    updated_at: u64,
    state: Value,
    ops: VecDeque<(u64, Option<String>, Utf8Bytes)>,
    op_ids: HashMap<String, u64>,
    clients: Vec<Client>,
}

type Sessions = Arc<Mutex<HashMap<String, Arc<Mutex<Session>>>>>;

fn millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn new_session() -> Session {
    Session {
        version: 1,
        updated_at: millis(),
        state: json!({}),
        ops: VecDeque::new(),
        op_ids: HashMap::new(),
        clients: Vec::new(),
    }
}

pub async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("[native] listening on 127.0.0.1:{port}");
    let sessions: Sessions = Arc::new(Mutex::new(HashMap::new()));
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(1));
    loop {
        let (stream, _) = listener.accept().await?;
        let sessions = sessions.clone();
        let counter = counter.clone();
        tokio::spawn(async move {
            let _ = conn(stream, sessions, counter).await;
        });
    }
}

async fn conn(stream: TcpStream, sessions: Sessions, counter: Arc<std::sync::atomic::AtomicU64>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut first = [0u8; 4];
    let n = stream.peek(&mut first).await?;
    if n >= 4 && &first == b"POST" {
        return http_create(stream, sessions, counter).await;
    }
    let mut path = String::new();
    let cb = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        path = req.uri().to_string();
        Ok(resp)
    };
    let ws = match tokio_tungstenite::accept_hdr_async(stream, cb).await {
        Ok(ws) => ws,
        Err(_) => return Ok(()),
    };
    let (p, query) = path.split_once('?').unwrap_or((&path, ""));
    let key = p.trim_start_matches("/api/v1/sessions/").trim_end_matches("/ws").to_string();
    let since: Option<u64> = query.split('&').find_map(|kv| kv.strip_prefix("since=")).and_then(|v| v.parse().ok());
    let session = {
        let mut all = sessions.lock().unwrap();
        all.entry(key).or_insert_with(|| Arc::new(Mutex::new(new_session()))).clone()
    };
    let client_id = format!("c_{:08x}", counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();

    // welcome + join, under the session lock so that no update slips between them
    {
        let mut s = session.lock().unwrap();
        s.clients.push(Client { id: client_id.clone(), tx: tx.clone(), data: Value::Null });
        let presence: Vec<Value> = s.clients.iter().map(|c| json!({"clientId": c.id, "data": c.data})).collect();
        let mut w = format!(
            "{{\"type\":\"welcome\",\"protocol\":1,\"clientId\":\"{client_id}\",\"role\":\"write\",\"version\":{},\"updatedAt\":{},",
            s.version, s.updated_at
        );
        let oldest = s.ops.front().map(|o| o.0).unwrap_or(s.version + 1);
        match since {
            Some(v) if v == s.version => w.push_str("\"resume\":\"ops\",\"ops\":[]"),
            Some(v) if v < s.version && v + 1 >= oldest => {
                w.push_str("\"resume\":\"ops\",\"ops\":[");
                let mut first = true;
                for (ver, _, frame) in s.ops.iter() {
                    if *ver > v {
                        if !first {
                            w.push(',');
                        }
                        first = false;
                        w.push_str(frame.as_str());
                    }
                }
                w.push(']');
            }
            _ => {
                w.push_str("\"resume\":\"snapshot\",\"state\":");
                w.push_str(&s.state.to_string());
            }
        }
        w.push_str(&format!(
            ",\"presence\":{},\"limits\":{{\"maxMessageBytes\":262144,\"maxMessagesPerSecond\":1000000,\"maxPresenceBytes\":2048,\"maxClients\":1000}}}}",
            Value::Array(presence)
        ));
        let _ = tx.send(Message::text(w));
        let join = Utf8Bytes::from(format!("{{\"type\":\"presence\",\"event\":\"join\",\"clientId\":\"{client_id}\",\"data\":null}}"));
        for c in s.clients.iter().filter(|c| c.id != client_id) {
            let _ = c.tx.send(Message::Text(join.clone()));
        }
    }

    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.feed(m).await.is_err() {
                return;
            }
            // coalesce syscalls: feed whatever is already queued, then flush once
            while let Ok(m) = rx.try_recv() {
                if sink.feed(m).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });

    while let Some(Ok(msg)) = source.next().await {
        match msg {
            Message::Text(t) => handle(&session, &client_id, &tx, t.as_str()),
            Message::Close(_) => break,
            _ => {}
        }
    }
    {
        let mut s = session.lock().unwrap();
        s.clients.retain(|c| c.id != client_id);
        let leave = Utf8Bytes::from(format!("{{\"type\":\"presence\",\"event\":\"leave\",\"clientId\":\"{client_id}\",\"data\":null}}"));
        for c in s.clients.iter() {
            let _ = c.tx.send(Message::Text(leave.clone()));
        }
    }
    drop(tx);
    writer.abort();
    Ok(())
}

fn merge_patch(target: &mut Value, patch: &Value) {
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = json!({});
        }
        let t = target.as_object_mut().unwrap();
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

fn handle(session: &Mutex<Session>, client_id: &str, tx: &mpsc::UnboundedSender<Message>, text: &str) {
    if text == "ping" {
        let _ = tx.send(Message::text("pong"));
        return;
    }
    let f: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let line = Utf8Bytes::from(format!("{client_id} says: {text}"));
            let s = session.lock().unwrap();
            for c in s.clients.iter().filter(|c| c.id != client_id) {
                let _ = c.tx.send(Message::Text(line.clone()));
            }
            return;
        }
    };
    let ty = f.get("type").and_then(Value::as_str).unwrap_or("");
    match ty {
        "set" | "patch" => write(session, client_id, tx, &f, ty),
        "ping" => {
            let _ = tx.send(Message::text("{\"type\":\"pong\"}"));
        }
        "presence" => {
            let mut s = session.lock().unwrap();
            let data = f.get("data").cloned().unwrap_or(Value::Null);
            let frame = Utf8Bytes::from(json!({"type":"presence","event":"update","clientId":client_id,"data":data}).to_string());
            for c in s.clients.iter_mut() {
                if c.id == client_id {
                    c.data = data.clone();
                } else {
                    let _ = c.tx.send(Message::Text(frame.clone()));
                }
            }
        }
        "broadcast" => {
            let s = session.lock().unwrap();
            let to = f.get("to").and_then(Value::as_str);
            let frame = Utf8Bytes::from(json!({"type":"broadcast","from":client_id,"data":f.get("data")}).to_string());
            for c in s.clients.iter().filter(|c| c.id != client_id && to.is_none_or(|t| t == c.id)) {
                let _ = c.tx.send(Message::Text(frame.clone()));
            }
        }
        _ => {
            let _ = tx.send(Message::text("{\"type\":\"error\",\"code\":\"invalid_frame\",\"message\":\"unknown type\"}"));
        }
    }
}

fn write(session: &Mutex<Session>, client_id: &str, tx: &mpsc::UnboundedSender<Message>, f: &Value, ty: &str) {
    let op_id = f.get("opId").and_then(Value::as_str).map(str::to_string);
    let mut s = session.lock().unwrap();
    let reject = |s: &Session, code: &str, msg: &str| {
        let _ = tx.send(Message::text(
            json!({"type":"reject","opId":op_id,"code":code,"message":msg,"version":s.version}).to_string(),
        ));
    };
    if let Some(id) = &op_id {
        if id.is_empty() || id.len() > 64 {
            return reject(&s, "invalid_op_id", "opId must be 1 to 64 characters");
        }
        if let Some(v) = s.op_ids.get(id) {
            let _ = tx.send(Message::text(json!({"type":"ack","opId":id,"version":v,"duplicate":true}).to_string()));
            return;
        }
    }
    if let Some(b) = f.get("baseVersion").and_then(Value::as_u64) {
        if b != s.version {
            let msg = format!("base version {b} is not the current version {}", s.version);
            return reject(&s, "version_conflict", &msg);
        }
    }
    let (kind, body, next) = if ty == "set" {
        match f.get("state") {
            Some(st) => ("set", st, st.clone()),
            None => return reject(&s, "invalid_frame", "missing field `state`"),
        }
    } else {
        match f.get("merge") {
            Some(m) => {
                let mut next = s.state.clone();
                merge_patch(&mut next, m);
                ("merge", m, next)
            }
            None => return reject(&s, "invalid_patch", "merge patches only"),
        }
    };
    // the service stores the whole state on every write: serialize it the same way
    let stored = next.to_string();
    if stored.len() > MAX_STATE_BYTES {
        return reject(&s, "state_too_large", "state would exceed MAX_STATE_BYTES");
    }
    s.state = next;
    s.version += 1;
    s.updated_at = millis();
    let version = s.version;
    let mut frame = format!(
        "{{\"type\":\"update\",\"version\":{version},\"updatedAt\":{},\"opId\":{},\"author\":\"{client_id}\",\"{kind}\":",
        s.updated_at,
        op_id.as_ref().map(|o| Value::String(o.clone()).to_string()).unwrap_or_else(|| "null".into())
    );
    frame.push_str(&body.to_string());
    frame.push('}');
    let frame = Utf8Bytes::from(frame);
    s.ops.push_back((version, op_id.clone(), frame.clone()));
    if let Some(id) = &op_id {
        s.op_ids.insert(id.clone(), version);
    }
    while s.ops.len() > OPLOG_MAX_OPS {
        if let Some((_, Some(old), _)) = s.ops.pop_front() {
            s.op_ids.remove(&old);
        }
    }
    let _ = tx.send(Message::text(json!({"type":"ack","opId":op_id,"version":version}).to_string()));
    for c in s.clients.iter() {
        let _ = c.tx.send(Message::Text(frame.clone()));
    }
}

async fn http_create(mut stream: TcpStream, sessions: Sessions, counter: Arc<std::sync::atomic::AtomicU64>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= i + 4 + len {
                break;
            }
        }
    }
    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sid = format!("native{n:016x}");
    let key = format!("{sid}.secret{n:016x}");
    sessions.lock().unwrap().insert(key.clone(), Arc::new(Mutex::new(new_session())));
    let body = json!({"sessionId": sid, "keys": {"admin": key, "write": key, "read": key}, "state": {}, "version": 1}).to_string();
    let resp = format!(
        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(resp.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}
