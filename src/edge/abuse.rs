//! Per-address request limits at the edge, with Workers' Rate Limiting bindings
//! (`[[ratelimits]]` in wrangler.toml; they run under `wrangler dev` too).

use worker::{Env, Request};

use crate::core::abuse::RequestLimit;
use crate::core::error::ApiError;

/// The header the edge sets to the client's address.
pub const CLIENT_ADDRESS: &str = "CF-Connecting-IP";

/// The client's address, as the edge reports it.
pub fn client_address(req: &Request) -> String {
    req.headers().get(CLIENT_ADDRESS).ok().flatten().unwrap_or_else(|| "unknown".to_owned())
}

/// Counts the request against its per-address limit; `throttled` (429 with `Retry-After`)
/// when the address is over it. A missing binding is logged and lets the request through.
pub async fn check(env: &Env, req: &Request, limit: RequestLimit) -> Result<(), ApiError> {
    let limiter = match env.rate_limiter(limit.binding()) {
        Ok(limiter) => limiter,
        Err(e) => {
            worker::console_error!("rate limit binding {} missing: {e}", limit.binding());
            return Ok(());
        }
    };
    let key = format!("{}:{}", limit.binding(), client_address(req));
    match limiter.limit(key).await {
        Ok(outcome) if outcome.success => Ok(()),
        Ok(_) => Err(ApiError::Throttled { what: limit.what(), retry_after: limit.period_seconds() }),
        Err(e) => {
            worker::console_error!("rate limiter {} failed: {e}", limit.binding());
            Ok(())
        }
    }
}
