//! Version history of the session object: checkpoints taken on the write path (every N
//! versions or M bytes, and before any write that replaces the whole state), on demand, the
//! versions list, reading a checkpoint, and restoring one as a new version through the normal
//! write path. The decisions are `core::history`'s; `HistoryStore` stores.

use std::rc::Rc;

use serde_json::json;
use worker::{Request, Response};

use super::{header, SessionObject};
use crate::core::doc::{parse_document, BoundedChunks, Node};
use crate::core::document::{Change, SessionRecord};
use crate::core::error::ApiError;
use crate::core::history::{
    checkpoint_label, page, page_query, restore_version, CheckpointMeta, HistoryPolicy, CHUNK_BYTES,
};
use crate::core::incoming::WriteRequest;
use crate::core::keys::Role;
use crate::core::session::{apply_write, WriteOutcome};
use crate::edge::host::now_ms;
use crate::edge::respond::{json, json_text, log_internal, OrInternal};

/// The checkpoint of the record's current version, sized as stored.
fn meta_of(r: &SessionRecord, label: Option<String>) -> CheckpointMeta {
    CheckpointMeta { version: r.version, updated_at: r.updated_at, label, state_bytes: r.state_bytes() as u64 }
}

/// The state's text in chunk rows.
fn chunks(root: Rc<Node>) -> BoundedChunks {
    BoundedChunks::new(root, CHUNK_BYTES)
}

impl SessionObject {
    /// `apply_write` plus history: a write that replaces the whole state first has the state it
    /// replaces checkpointed, and every applied write counts towards the next automatic
    /// checkpoint. The checkpoints are stored in the same synchronous stretch as the write, so
    /// in the same implicit transaction. A history failure is logged and never fails the write.
    pub(super) fn apply_with_history(
        &self,
        r: &mut SessionRecord,
        req: WriteRequest,
        author: &str,
    ) -> Result<WriteOutcome, ApiError> {
        let policy = HistoryPolicy::of(&self.limits);
        // A replace swaps the root: the old root stays as it was, so keeping it costs nothing.
        let replaced = match &req.change {
            Change::Set(_) if r.unreadable.is_none() => {
                let due = self
                    .history
                    .progress()
                    .map(|p| p.before_replace_sized(r.version, r.state_bytes() as u64, &policy))
                    .unwrap_or(true);
                due.then(|| (meta_of(r, None), r.doc.root.clone()))
            }
            _ => None,
        };
        let outcome = apply_write(&self.store, r, req, author, &self.limits, now_ms())?;
        if let (Some((meta, root)), WriteOutcome::Applied { .. }) = (replaced, &outcome) {
            if let Err(e) = self.history.take(&meta, chunks(root), &policy) {
                log_internal(&e);
            }
        }
        if let WriteOutcome::Applied { frame, .. } = &outcome {
            if let Err(e) = self.count_write(r, frame.len() as u64, &policy) {
                log_internal(&e);
            }
        }
        Ok(outcome)
    }

    /// Counts an applied write towards the next automatic checkpoint, and takes it when due.
    fn count_write(&self, r: &SessionRecord, frame_bytes: u64, policy: &HistoryPolicy) -> Result<(), ApiError> {
        let mut progress = self.history.progress()?;
        if !progress.after_write_sized(r.version, frame_bytes, r.state_bytes() as u64, policy) {
            return self.history.set_progress(progress);
        }
        self.history.take(&meta_of(r, None), chunks(r.doc.root.clone()), policy)
    }

    /// `GET .../versions?before=&limit=`: checkpoints newest first, with the next page's cursor.
    pub(super) fn list_versions(&self, query: Option<&str>) -> Result<Response, ApiError> {
        let q = page_query(query)?;
        self.with_record(|_| Ok(()))?;
        let (versions, next) = page(self.history.list(q.before, q.limit + 1)?, q.limit);
        json(200, &json!({ "versions": versions, "next": next }))
    }

    /// `GET /sessions/{key}?version=N`: the state as it was at checkpoint N.
    pub(super) fn get_version(&self, role: Role, version: u64) -> Result<Response, ApiError> {
        self.with_record(|_| Ok(()))?;
        let (meta, state_json) = self.history.load(version)?.ok_or(ApiError::VersionNotFound(version))?;
        // The stored text is embedded as it is: a state of a megabyte is not parsed again.
        let head = json!({
            "version": meta.version,
            "updatedAt": meta.updated_at,
            "label": meta.label,
            "stateBytes": meta.state_bytes,
            "role": role,
        })
        .to_string();
        let body = format!("{},\"state\":{}}}", head.trim_end_matches('}'), state_json);
        json_text(200, body)
    }

    /// `POST .../checkpoints` with an optional `{"label"}`: a checkpoint of the current state.
    pub(super) fn checkpoint_now(&self, content_type: Option<&str>, body: &[u8]) -> Result<Response, ApiError> {
        let label = checkpoint_label(content_type, body)?;
        let meta = self.with_record(|r| {
            let meta = meta_of(r, label);
            self.history.take(&meta, chunks(r.readable()?.root.clone()), &HistoryPolicy::of(&self.limits))?;
            Ok(meta)
        })?;
        let stored = self.history.meta(meta.version)?.unwrap_or(meta);
        json(201, &serde_json::to_value(stored).or_internal()?)
    }

    /// `POST .../restore` with `{"version": N}`: checkpoint N's state becomes the current one as
    /// a new version, written as a `set` like a PUT (preconditions, bounds, fan-out, and the
    /// state it replaces checkpointed, so a restore is undone by restoring again).
    pub(super) fn restore(&self, req: &Request, role: Role, body: &[u8]) -> Result<Response, ApiError> {
        let version = restore_version(header(req, "Content-Type").as_deref(), body)?;
        self.with_record(|_| Ok(()))?;
        let (_, state_json) = self.history.load(version)?.ok_or(ApiError::VersionNotFound(version))?;
        let state =
            parse_document(&state_json).map_err(|e| ApiError::Internal(format!("checkpoint {version}: {e}")))?;
        self.http_write_change(req, role, Change::Set(Rc::new(state)))
    }
}
