//! Loading the bundle once per instance, without caching a failure for the instance's life: a
//! bundle that failed to load (not yet mounted, half-written, corrupt) is tried again on the
//! first request after a back-off, so an instance recovers once the file is fixed.

use crate::api::State;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a failed load is remembered before the next request tries again.
pub const RELOAD_AFTER: Duration = Duration::from_secs(1);

/// The instance's bundle state.
#[derive(Debug, Default)]
pub enum Loader {
    /// Not tried yet.
    #[default]
    Never,
    /// Loaded; kept for the instance's life.
    Loaded(Rc<State>),
    /// Failed at this instant; served (as 503s) until [`RELOAD_AFTER`] has passed.
    Failed(Instant, Rc<State>),
}

impl Loader {
    /// The state to answer with at `now`, calling `load` when there is none or a failure is stale.
    pub fn get(&mut self, now: Instant, load: impl FnOnce() -> State) -> Rc<State> {
        match self {
            Loader::Loaded(s) => return s.clone(),
            Loader::Failed(at, s) if now.saturating_duration_since(*at) < RELOAD_AFTER => return s.clone(),
            _ => {}
        }
        let s = Rc::new(load());
        *self = if s.view().is_some() { Loader::Loaded(s.clone()) } else { Loader::Failed(now, s.clone()) };
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_load_is_retried_after_the_back_off_and_a_good_one_is_kept() {
        let good = crate::api::tests::bundle_bytes();
        let t0 = Instant::now();
        let mut l = Loader::default();
        let mut loads = 0;
        let mut load = |ok: bool| {
            loads += 1;
            let bytes =
                if ok { Ok(good.clone()) } else { Err("reading bundle /data/bundle.bin: not found".to_string()) };
            State::from_bundle_bytes(bytes)
        };
        assert!(l.get(t0, || load(false)).view().is_none());
        assert!(
            l.get(t0 + RELOAD_AFTER / 2, || load(true)).view().is_none(),
            "within the back-off: the failure is served"
        );
        assert!(l.get(t0 + RELOAD_AFTER, || load(true)).view().is_some(), "after it: tried again, and loaded");
        assert!(l.get(t0 + RELOAD_AFTER * 10, || load(false)).view().is_some(), "a loaded bundle is kept");
        assert_eq!(loads, 2);
    }
}
