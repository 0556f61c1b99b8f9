//! Checking one-time codes from virtual MFA devices: RFC 6238 within one
//! step either side of now, each code accepted once, and a device locked for
//! five minutes after five wrong codes within five minutes.

use std::collections::HashMap;
use std::sync::Mutex;

use latchkey_model::totp;

use crate::ApiError;
use crate::state::AccountState;

/// Wrong codes tolerated per device within [`WINDOW`] before it locks.
const MAX_FAILURES: usize = 5;
/// Seconds over which failures count, and how long a lock lasts.
const WINDOW: i64 = 300;

/// Per-device state: the last step accepted, recent failures, a lock.
#[derive(Debug, Default)]
pub struct Guard {
    devices: Mutex<HashMap<String, DeviceState>>,
}

#[derive(Debug, Default)]
struct DeviceState {
    last_step: Option<i64>,
    failures: Vec<i64>,
    locked_until: i64,
}

fn invalid_code() -> ApiError {
    ApiError::access_denied("MultiFactorAuthentication failed with invalid MFA one time pass code. ")
}

impl Guard {
    /// Checks `code` for the device `serial` enabled for the user `user_id`.
    /// Every refusal looks the same from outside except a lock, which says so.
    pub fn check(&self, acct: &AccountState, user_id: &str, serial: &str, code: &str, now: i64) -> Result<(), ApiError> {
        let entry = acct
            .mfa
            .get(serial)
            .filter(|e| e.device.assigned.as_ref().is_some_and(|(u, _)| u.as_str() == user_id))
            .ok_or_else(|| ApiError::access_denied("MultiFactorAuthentication failed, unable to validate MFA code."))?;
        let mut devices = self.devices.lock().map_err(|_| ApiError::internal("MFA guard poisoned"))?;
        let state = devices.entry(serial.to_owned()).or_default();
        if now < state.locked_until {
            return Err(ApiError::access_denied(
                "MultiFactorAuthentication failed: too many invalid codes for this MFA device; try again later.",
            ));
        }
        let step = totp::parse_code(code).and_then(|c| totp::matching_step(&entry.seed, c, now, 1));
        match step {
            // A code is good once: a step at or before the last one used is a replay.
            Some(s) if state.last_step.is_none_or(|last| s > last) => {
                state.last_step = Some(s);
                state.failures.clear();
                Ok(())
            }
            _ => {
                state.failures.retain(|t| now - t < WINDOW);
                state.failures.push(now);
                if state.failures.len() >= MAX_FAILURES {
                    state.locked_until = now + WINDOW;
                    state.failures.clear();
                }
                Err(invalid_code())
            }
        }
    }
}
