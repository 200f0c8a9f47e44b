//! How many rooms one address may create per minute: without it, anyone could fill the room limit with empty
//! rooms faster than they close. A fixed one-minute window per address; quick play opening a room for lack of space
//! is not counted (it only happens when every room is full).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::LobbyError;

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many addresses tracked, the ones whose window is over are forgotten.
const TRACKED: usize = 4096;

pub(super) struct CreationQuota {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl CreationQuota {
    pub(super) fn new(per_minute: u32) -> CreationQuota {
        CreationQuota { per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one creation from `from` at `now`, or refuses it with the time until the address may create again.
    pub(super) fn take(&self, from: IpAddr, now: Instant) -> Result<(), LobbyError> {
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > TRACKED {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let (start, used) = windows.entry(from).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *used) = (now, 0);
        }
        if *used >= self.per_minute {
            let retry_after = WINDOW.saturating_sub(now.duration_since(*start));
            return Err(LobbyError::CreationQuota {
                limit: self.per_minute,
                retry_after_secs: retry_after.as_secs().max(1),
            });
        }
        *used += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_quota_per_minute() {
        let quota = CreationQuota::new(2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        assert!(quota.take(a, t0).is_ok());
        assert!(quota.take(a, t0 + Duration::from_secs(10)).is_ok());
        let refused = quota.take(a, t0 + Duration::from_secs(15)).unwrap_err();
        assert_eq!(refused, LobbyError::CreationQuota { limit: 2, retry_after_secs: 45 });
        assert!(quota.take(b, t0 + Duration::from_secs(15)).is_ok(), "another address has its own quota");
        assert!(quota.take(a, t0 + Duration::from_secs(60)).is_ok(), "a new minute, a new quota");
    }
}
