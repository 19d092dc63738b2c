//! The session's storage as its room sees it (`SessionWrites` over the record cache and `SqlStore`).

use super::SessionObject;
use crate::core::doc::FrameText;
use crate::core::error::ApiError;
use crate::core::incoming::WriteRequest;
use crate::core::keys::Role;
use crate::core::protocol::PresenceEntry;
use crate::core::room::SessionWrites;
use crate::core::session::{plan_resume, recent_ops, welcome_frame, WriteOutcome};

/// The session's storage as the room sees it.
pub(in crate::edge) struct Writes<'a>(pub(in crate::edge) &'a SessionObject);

impl SessionWrites for Writes<'_> {
    fn write(&mut self, req: WriteRequest, author: &str, _now: i64) -> Result<WriteOutcome, ApiError> {
        let object = self.0;
        let result = object.with_record(|r| object.apply_with_history(r, req, author));
        if let Err(ApiError::Internal(_)) = &result {
            // The record may hold a write that was not stored: load it again next time.
            *object.cache.borrow_mut() = None;
        }
        result
    }

    fn welcome(
        &mut self,
        since: Option<u64>,
        client_id: &str,
        role: Role,
        presence: Vec<PresenceEntry>,
        now: i64,
    ) -> Result<FrameText, ApiError> {
        let object = self.0;
        object.with_record(|r| {
            if r.touch_on_connect(now) {
                object.store.set_expiry(r.expires_at)?;
            }
            let plan = plan_resume(&object.store, r, since, &object.limits)?;
            welcome_frame(r, plan, client_id, role, presence, &object.limits)
        })
    }

    fn history(&mut self) -> Result<Vec<String>, ApiError> {
        let object = self.0;
        object.with_record(|r| recent_ops(&object.store, r, &object.limits))
    }

    fn version(&mut self) -> Result<u64, ApiError> {
        self.0.with_record(|r| Ok(r.version))
    }
}
