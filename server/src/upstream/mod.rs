//! Key-bearing upstream APIs (live conditions, LLM providers): what they share — bounded
//! response bodies, failure classification into public error codes, `Retry-After`, and a
//! circuit breaker.
//!
//! Keys travel only from here to the upstream. Error texts never contain a request URL (some
//! providers take the key as a query parameter), so nothing logged or shown can carry it.

pub mod live;
pub mod llm;

use std::time::{Duration, Instant};

use app::error::{AppError, ErrorCode};

/// Why an upstream call gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum UpstreamError {
    #[error("the provider rejected the key (HTTP {0})")]
    Rejected(u16),
    #[error("the provider is rate limiting us (HTTP 429)")]
    RateLimited { retry_after: Option<u64> },
    #[error("the provider answered HTTP {0}")]
    Status(u16),
    #[error("the provider did not answer within {0} s")]
    Timeout(u64),
    #[error("the provider cannot be reached")]
    Unreachable,
    #[error("the provider's answer is not in the expected format: {0}")]
    Malformed(String),
    #[error("the provider's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("calls are paused after repeated failures")]
    CircuitOpen { retry_after: u64 },
    #[error("the hourly call quota is used up")]
    QuotaExceeded { retry_after: u64 },
    #[error("the daily token budget is used up")]
    BudgetExhausted { retry_after: u64 },
    #[error("too many calls across all users (our global pace)")]
    Paced { retry_after: u64 },
    #[error("this client asked too often")]
    ClientLimited { retry_after: u64 },
}

impl UpstreamError {
    /// A short fixed word for the metrics' `outcome` label.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Rejected(_) => "rejected",
            Self::RateLimited { .. } => "rate_limited",
            Self::Status(_) => "http_error",
            Self::Timeout(_) => "timeout",
            Self::Unreachable => "unreachable",
            Self::Malformed(_) | Self::TooLarge(_) => "malformed",
            Self::CircuitOpen { .. }
            | Self::QuotaExceeded { .. }
            | Self::BudgetExhausted { .. }
            | Self::Paced { .. }
            | Self::ClientLimited { .. } => "held",
        }
    }

    /// Whether this failure counts towards opening the circuit (the upstream is unhealthy),
    /// as opposed to our own limits or an explicit rate limit.
    pub fn counts_as_failure(&self) -> bool {
        !matches!(
            self,
            Self::RateLimited { .. }
                | Self::CircuitOpen { .. }
                | Self::QuotaExceeded { .. }
                | Self::BudgetExhausted { .. }
                | Self::Paced { .. }
                | Self::ClientLimited { .. }
        )
    }

    /// Whether trying the same call again soon may succeed: a 429, a 5xx, a timeout, no
    /// connection. Not our own limits, not a rejected key, not a 4xx or a bad answer.
    pub fn retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Timeout(_) | Self::Unreachable => true,
            Self::Status(code) => *code >= 500,
            _ => false,
        }
    }

    /// The public error for this failure; `what` names the source ("live conditions").
    pub fn to_public(&self, what: &str) -> AppError {
        match self {
            Self::RateLimited { retry_after } => AppError::new(
                ErrorCode::RateLimited,
                format!("The {what} provider is limiting requests; retrying later."),
            )
            .retry_after(retry_after.unwrap_or(60)),
            Self::QuotaExceeded { retry_after } => AppError::new(
                ErrorCode::QuotaExceeded,
                format!("The hourly call quota for {what} is used up."),
            )
            .retry_after(*retry_after),
            Self::BudgetExhausted { retry_after } => AppError::new(
                ErrorCode::QuotaExceeded,
                format!("Today's token budget for the {what} is used up."),
            )
            .retry_after(*retry_after),
            Self::Paced { retry_after } => AppError::new(
                ErrorCode::RateLimited,
                format!("The {what} is answering as many questions as it may right now."),
            )
            .retry_after(*retry_after),
            Self::ClientLimited { retry_after } => AppError::new(
                ErrorCode::RateLimited,
                format!("You have asked the {what} as often as allowed for now."),
            )
            .retry_after(*retry_after),
            Self::CircuitOpen { retry_after } => AppError::new(
                ErrorCode::SourceUnavailable,
                format!("The {what} provider failed repeatedly; calls are paused."),
            )
            .retry_after(*retry_after),
            Self::Rejected(_) => AppError::new(
                ErrorCode::SourceUnavailable,
                format!("The {what} provider refused this server's key; an administrator must check it."),
            ),
            Self::Timeout(_) | Self::Unreachable | Self::Status(_) => {
                AppError::new(ErrorCode::SourceUnavailable, format!("The {what} provider is not answering."))
                    .retry_after(60)
            }
            Self::Malformed(_) | Self::TooLarge(_) => AppError::new(
                ErrorCode::SourceUnavailable,
                format!("The {what} provider sent an answer that could not be used."),
            )
            .retry_after(60),
        }
    }

    /// A transport error, without its URL.
    pub fn from_reqwest(e: reqwest::Error, timeout: Duration) -> UpstreamError {
        if e.is_timeout() {
            Self::Timeout(timeout.as_secs().max(1))
        } else if e.is_decode() || e.is_body() {
            Self::Malformed("the body could not be read".to_owned())
        } else {
            Self::Unreachable
        }
    }
}

/// Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.to_utc() - chrono::Utc::now()).num_seconds().max(0) as u64)
}

/// Reads a response body, refusing more than `limit` bytes (checked while reading, so a
/// lying or absent `Content-Length` cannot exhaust memory).
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, UpstreamError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(UpstreamError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| UpstreamError::from_reqwest(e, timeout))? {
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The state of a [`Breaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// Refusing calls until the cooldown ends.
    Open,
    /// Cooldown over: the next call is a trial; it closes the breaker or opens it again.
    HalfOpen,
}

/// A circuit breaker: after `threshold` consecutive failures calls are refused for
/// `cooldown`; then one trial call decides whether to close it or open it again.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker { threshold: threshold.max(1), cooldown, failures: 0, open_until: None }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            Some(until) if now < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
            None => BreakerState::Closed,
        }
    }

    /// `Err(seconds to wait)` while open.
    pub fn check(&self, now: Instant) -> Result<(), u64> {
        match self.open_until {
            Some(until) if now < until => Err((until - now).as_secs_f64().ceil() as u64),
            _ => Ok(()),
        }
    }

    pub fn success(&mut self) {
        self.failures = 0;
        self.open_until = None;
    }

    pub fn failure(&mut self, now: Instant) {
        self.failures += 1;
        // A failed trial (half-open) opens it again at once.
        if self.failures >= self.threshold || self.open_until.is_some() {
            self.open_until = Some(now + self.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_the_threshold_and_a_trial_decides() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(30));
        b.failure(t0);
        b.failure(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
        b.failure(t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert_eq!(b.check(t0 + Duration::from_secs(10)), Err(20));
        let later = t0 + Duration::from_secs(31);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        assert_eq!(b.check(later), Ok(()));
        b.failure(later);
        assert_eq!(b.state(later), BreakerState::Open, "a failed trial opens it again");
        let much_later = later + Duration::from_secs(31);
        b.success();
        assert_eq!(b.state(much_later), BreakerState::Closed);
        b.failure(much_later);
        assert_eq!(b.state(much_later), BreakerState::Closed, "the count starts again");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&h), Some(120));
        let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(90);
        h.insert(reqwest::header::RETRY_AFTER, soon.to_rfc2822().parse().unwrap());
        assert!(retry_after(&h).is_some_and(|s| (85..=90).contains(&s)), "{:?}", retry_after(&h));
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn public_errors_carry_codes_and_retry_hints() {
        let e = UpstreamError::QuotaExceeded { retry_after: 1200 }.to_public("live conditions");
        assert_eq!((e.code, e.retry_after_seconds), (ErrorCode::QuotaExceeded, Some(1200)));
        let e = UpstreamError::RateLimited { retry_after: Some(30) }.to_public("live conditions");
        assert_eq!((e.code, e.retry_after_seconds), (ErrorCode::RateLimited, Some(30)));
        assert!(!UpstreamError::QuotaExceeded { retry_after: 1 }.counts_as_failure());
        assert!(UpstreamError::Timeout(5).counts_as_failure());
    }
}
