//! Protecting the paid embeddings endpoint, per instance: a time budget per request with at most
//! one retry inside it, token buckets for requests per second and tokens per minute, and a
//! circuit breaker that skips the endpoint for a cool-down after repeated failures (the answer is
//! then lexical only, at once, instead of paying the timeout on every request).
//!
//! Pure state machines over a caller-supplied clock in milliseconds, so every decision is
//! unit-tested here; `lib.rs` does the HTTP and the waiting. Hand-written because the kept
//! limiter crates read the clock themselves (governor, via quanta) or need a tokio runtime,
//! neither of which exists inside a wasi:http component.

use std::fmt;

/// Limits toward the endpoint (environment variables in brackets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Time budget for one query embedding, retry included (`SHOPAI_EMBED_TIMEOUT_MS`, 300).
    pub timeout_ms: u64,
    /// Calls per second (`SHOPAI_EMBED_RPS`, 20; bursts up to one second's worth).
    pub requests_per_s: f64,
    /// Estimated input tokens per minute (`SHOPAI_EMBED_TPM`, 60,000).
    pub tokens_per_min: f64,
    /// Consecutive failed requests that open the breaker (`SHOPAI_BREAKER_FAILURES`, 3).
    pub breaker_failures: u32,
    /// How long the breaker stays open (`SHOPAI_BREAKER_COOLDOWN_MS`, 10,000).
    pub breaker_cooldown_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: 300,
            requests_per_s: 20.0,
            tokens_per_min: 60_000.0,
            breaker_failures: 3,
            breaker_cooldown_ms: 10_000,
        }
    }
}

/// Why a call was not made.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The breaker is open.
    Open {
        /// Consecutive failures that opened it.
        failures: u32,
        /// Time left in the cool-down.
        retry_in_ms: u64,
    },
    /// Half-open: the one trial call is in flight; the others do not wait on it.
    Probing,
    /// Over the requests-per-second budget.
    Requests(f64),
    /// Over the tokens-per-minute budget.
    Tokens(f64),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Open { failures, retry_in_ms } => write!(
                f,
                "circuit breaker open after {failures} failed calls (endpoint skipped for {:.1} s more)",
                *retry_in_ms as f64 / 1000.0
            ),
            Refusal::Probing => write!(f, "circuit breaker half-open (one trial call in flight)"),
            Refusal::Requests(r) => write!(f, "rate limit reached ({r} calls/s per instance)"),
            Refusal::Tokens(t) => write!(f, "token budget reached ({t} tokens/min per instance)"),
        }
    }
}

/// Rough token count of an input (OpenAI's rule of thumb: four characters a token).
pub fn estimate_tokens(text: &str) -> u32 {
    (text.len() / 4 + 1) as u32
}

#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    per_ms: f64,
    last_ms: u64,
}

impl Bucket {
    fn new(capacity: f64, per_ms: f64) -> Self {
        Self { capacity, tokens: capacity, per_ms, last_ms: 0 }
    }

    fn refill(&mut self, now_ms: u64) {
        let dt = now_ms.saturating_sub(self.last_ms) as f64;
        self.tokens = (self.tokens + dt * self.per_ms).min(self.capacity);
        self.last_ms = self.last_ms.max(now_ms);
    }
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Breaker {
    /// Calls go out; consecutive failures so far.
    Closed(u32),
    /// Calls are skipped until this time.
    Open(u64),
    /// The cool-down is over: one trial call (started at this time, if any) decides.
    HalfOpen(Option<u64>),
}

/// What a recorded outcome changed, for the instances that share the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing to tell.
    None,
    /// The breaker opened until this time.
    Opened(u64),
    /// A trial call succeeded: the endpoint is back.
    Recovered,
}

/// The per-instance guard.
#[derive(Debug, Clone)]
pub struct Guard {
    limits: Limits,
    requests: Bucket,
    tokens: Bucket,
    breaker: Breaker,
}

impl Guard {
    /// A guard with full buckets and a closed breaker.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            requests: Bucket::new(limits.requests_per_s.max(1.0), limits.requests_per_s / 1000.0),
            tokens: Bucket::new(limits.tokens_per_min.max(1.0), limits.tokens_per_min / 60_000.0),
            breaker: Breaker::Closed(0),
        }
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// May a call estimated at `tokens` go out now? Takes from both buckets when it may. After
    /// the cool-down one trial call goes out while the others are refused at once; a trial that
    /// never reported back (its request was dropped) is replaced after twice the time budget.
    pub fn admit(&mut self, now_ms: u64, tokens: u32) -> Result<(), Refusal> {
        match self.breaker {
            Breaker::Open(until) if now_ms < until => {
                return Err(Refusal::Open { failures: self.limits.breaker_failures, retry_in_ms: until - now_ms });
            }
            Breaker::Open(_) => self.breaker = Breaker::HalfOpen(None),
            Breaker::HalfOpen(Some(started)) if now_ms < started.saturating_add(2 * self.limits.timeout_ms) => {
                return Err(Refusal::Probing);
            }
            _ => {}
        }
        self.requests.refill(now_ms);
        self.tokens.refill(now_ms);
        if self.requests.tokens < 1.0 {
            return Err(Refusal::Requests(self.limits.requests_per_s));
        }
        if self.tokens.tokens < tokens as f64 {
            return Err(Refusal::Tokens(self.limits.tokens_per_min));
        }
        self.requests.tokens -= 1.0;
        self.tokens.tokens -= tokens as f64;
        if let Breaker::HalfOpen(_) = self.breaker {
            self.breaker = Breaker::HalfOpen(Some(now_ms));
        }
        Ok(())
    }

    /// Record how an admitted request ended (after its retry, if any), and what that changed.
    pub fn record(&mut self, now_ms: u64, ok: bool) -> Change {
        let open = |g: &mut Self| {
            let until = now_ms + g.limits.breaker_cooldown_ms;
            g.breaker = Breaker::Open(until);
            Change::Opened(until)
        };
        match (self.breaker, ok) {
            (Breaker::HalfOpen(_), true) => {
                self.breaker = Breaker::Closed(0);
                Change::Recovered
            }
            (Breaker::HalfOpen(_), false) => open(self),
            (Breaker::Closed(_), true) => {
                self.breaker = Breaker::Closed(0);
                Change::None
            }
            (Breaker::Closed(n), false) if n + 1 >= self.limits.breaker_failures.max(1) => open(self),
            (Breaker::Closed(n), false) => {
                self.breaker = Breaker::Closed(n + 1);
                Change::None
            }
            // A call admitted before the breaker opened: the breaker has already decided.
            (Breaker::Open(_), _) => Change::None,
        }
    }

    /// Take what another instance recorded: the endpoint is skipped for `open_for_ms` more
    /// (negative: the cool-down ended that long ago). Instances are short-lived; without this
    /// each new one would pay the time budget again against an endpoint known to be down. A
    /// cool-down that ended less than one cool-down ago makes a closed breaker half-open (the next
    /// call is a trial, alone); older news changes nothing, and a longer cool-down already here
    /// is never shortened.
    pub fn adopt(&mut self, now_ms: u64, open_for_ms: i64) {
        if open_for_ms > 0 {
            let until = now_ms + open_for_ms as u64;
            if !matches!(self.breaker, Breaker::Open(u) if u >= until) {
                self.breaker = Breaker::Open(until);
            }
        } else if matches!(self.breaker, Breaker::Closed(_))
            && open_for_ms.unsigned_abs() < self.limits.breaker_cooldown_ms
        {
            self.breaker = Breaker::HalfOpen(None);
        }
    }

    /// Whether the breaker is open at `now_ms`.
    pub fn is_open(&self, now_ms: u64) -> bool {
        matches!(self.breaker, Breaker::Open(u) if now_ms < u)
    }

    /// After a failed first attempt `elapsed_ms` into the budget: may the one retry go out? Only
    /// for errors worth retrying (connection errors, 429, 5xx) and with a third of the budget left.
    pub fn may_retry(&self, elapsed_ms: u64, retryable: bool) -> bool {
        retryable && elapsed_ms.saturating_mul(3) < self.limits.timeout_ms.saturating_mul(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            timeout_ms: 300,
            requests_per_s: 2.0,
            tokens_per_min: 600.0,
            breaker_failures: 3,
            breaker_cooldown_ms: 1_000,
        }
    }

    #[test]
    fn requests_per_second_bucket_refills_with_time() {
        let mut g = Guard::new(limits());
        assert!(g.admit(0, 1).is_ok());
        assert!(g.admit(0, 1).is_ok());
        assert_eq!(g.admit(0, 1), Err(Refusal::Requests(2.0)));
        assert_eq!(g.admit(499, 1), Err(Refusal::Requests(2.0)), "half a token after 499 ms at 2/s");
        assert!(g.admit(500, 1).is_ok());
    }

    #[test]
    fn tokens_per_minute_bucket_is_checked_before_anything_is_taken() {
        let mut g = Guard::new(Limits { requests_per_s: 100.0, ..limits() });
        assert!(g.admit(0, 500).is_ok());
        assert_eq!(g.admit(0, 200), Err(Refusal::Tokens(600.0)));
        assert!(g.admit(0, 100).is_ok(), "the refused call took nothing");
        assert!(g.admit(10_000, 100).is_ok(), "100 tokens back after 10 s at 600/min");
    }

    #[test]
    fn a_breaker_opened_elsewhere_is_adopted_and_half_opens_like_its_own() {
        let cool = limits().breaker_cooldown_ms;
        let mut g = Guard::new(limits());
        g.adopt(5_000, -2_000);
        assert_eq!(g.breaker, Breaker::Closed(0), "news older than a cool-down changes nothing");
        g.adopt(100, 500);
        assert!(matches!(g.admit(200, 1), Err(Refusal::Open { retry_in_ms: 400, .. })));
        g.adopt(200, 100);
        assert!(g.is_open(500), "a shorter cool-down does not cut a longer one");
        // Half-open after the cool-down: one failure re-opens it, and says until when.
        assert!(g.admit(600, 1).is_ok());
        assert_eq!(g.record(600, false), Change::Opened(600 + cool));
        assert!(g.is_open(601));
        // A fresh guard told of a cool-down that just ended starts half-open: a single trial.
        let mut fresh = Guard::new(limits());
        fresh.adopt(700, -100);
        assert!(fresh.admit(700, 1).is_ok());
        assert_eq!(fresh.admit(701, 1), Err(Refusal::Probing));
        assert_eq!(fresh.record(750, true), Change::Recovered);
        assert!(fresh.admit(751, 1).is_ok(), "recovered: calls go out again");
    }

    #[test]
    fn half_open_lets_one_trial_out_and_replaces_one_that_never_reported() {
        let mut g = Guard::new(Limits { requests_per_s: 100.0, ..limits() });
        for t in 0..3 {
            g.admit(t, 1).expect("closed");
            g.record(t, false);
        }
        assert!(g.admit(1_002, 1).is_ok(), "the trial call");
        assert_eq!(g.admit(1_003, 1), Err(Refusal::Probing), "the others do not wait on it");
        assert_eq!(g.admit(1_601, 1), Err(Refusal::Probing));
        assert!(g.admit(1_602, 1).is_ok(), "twice the budget without a report: another trial");
        assert_eq!(g.record(1_650, true), Change::Recovered);
        assert_eq!(g.record(1_651, true), Change::None);
    }

    #[test]
    fn breaker_opens_after_consecutive_failures_and_half_opens_after_the_cool_down() {
        let mut g = Guard::new(Limits { requests_per_s: 100.0, ..limits() });
        for t in 0..2 {
            g.admit(t, 1).expect("closed");
            g.record(t, false);
        }
        g.admit(2, 1).expect("two failures keep it closed");
        g.record(2, true);
        for t in 3..6 {
            g.admit(t, 1).expect("success reset the count");
            g.record(t, false);
        }
        assert!(g.is_open(6));
        assert_eq!(g.admit(6, 1), Err(Refusal::Open { failures: 3, retry_in_ms: 999 }));
        assert!(g.admit(1_005, 1).is_ok(), "cool-down over: a trial call goes out");
        assert_eq!(g.record(1_005, false), Change::Opened(2_005));
        assert!(g.is_open(1_006), "one failure in the half-open state re-opens it");
        assert!(g.admit(2_005, 1).is_ok());
        g.record(2_005, true);
        g.admit(2_006, 1).expect("closed");
        g.record(2_006, false);
        assert!(!g.is_open(2_007), "a success closed it fully");
    }

    #[test]
    fn one_retry_only_for_retryable_errors_with_budget_left() {
        let g = Guard::new(limits());
        assert!(g.may_retry(10, true));
        assert!(!g.may_retry(10, false));
        assert!(!g.may_retry(250, true));
    }
}
