//! The response body on its way back: passed through chunk by chunk as the
//! upstream sends it, watched for usage, guarded by the idle timeout, and
//! recorded when it ends.
//!
//! A broken or stalled upstream body is passed on as a broken body (hyper
//! aborts the response, so the caller sees a truncated stream, never a clean
//! end and never a `data: [DONE]` Warden made up).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};
use warden_config::Price;
use warden_core::Outcome;
use warden_limits::Ticket;

use crate::exchange::RecordGuard;
use crate::usage::UsageTap;

type Upstream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("upstream body broke: {0}")]
    Upstream(#[from] reqwest::Error),
    #[error("upstream sent nothing for {0:?}")]
    Idle(Duration),
}

pub struct Relay {
    upstream: Upstream,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    tap: UsageTap,
    guard: Option<RecordGuard>,
    ticket: Option<Ticket>,
    price: Option<Price>,
    restorer: Option<warden_pii::restore::Restorer>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl Relay {
    pub fn new(
        response: reqwest::Response,
        idle: Duration,
        guard: RecordGuard,
        ticket: Option<Ticket>,
        price: Option<Price>,
    ) -> Relay {
        let tap = UsageTap::for_content_type(
            response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        Relay {
            upstream: Box::pin(response.bytes_stream()),
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            tap,
            guard: Some(guard),
            ticket,
            price,
            restorer: None,
        }
    }

    /// Restore pseudonyms in the body on its way to the caller.
    pub fn restoring(mut self, restorer: Option<warden_pii::restore::Restorer>) -> Relay {
        self.restorer = restorer;
        self
    }

    fn end(&mut self, outcome: Outcome) {
        if let Some(mut guard) = self.guard.take() {
            let usage = self.tap.finish();
            // Estimates become actuals; without usage (a cut stream) they stay.
            let cost = match self.ticket.take() {
                Some(ticket) => ticket.settle(usage.as_ref()),
                None => None,
            }
            .or_else(|| {
                let (price, usage) = (self.price?, usage.as_ref()?);
                Some(warden_limits::estimate::cost_micros(price, usage))
            });
            guard.set_cost(cost);
            guard.finish(outcome, usage);
        }
    }
}

impl Stream for Relay {
    type Item = Result<Bytes, RelayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.guard.is_none() {
                return Poll::Ready(None);
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.tap.observe(&chunk);
                    let deadline = Instant::now() + this.idle;
                    this.timer.as_mut().reset(deadline);
                    let chunk = match &mut this.restorer {
                        Some(r) => Bytes::from(r.push(&chunk)),
                        None => chunk,
                    };
                    // An empty chunk could read as the end of the body: wait
                    // for more instead (a held-back placeholder prefix).
                    if chunk.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(chunk)));
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::warn!(error = %e, "upstream body broke mid-response");
                    this.end(Outcome::UpstreamBroken);
                    return Poll::Ready(Some(Err(RelayError::Upstream(e))));
                }
                Poll::Ready(None) => {
                    let tail = this
                        .restorer
                        .as_mut()
                        .map(|r| r.finish())
                        .unwrap_or_default();
                    this.end(Outcome::Completed);
                    if tail.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Bytes::from(tail))));
                }
                Poll::Pending => {
                    ready!(this.timer.as_mut().poll(cx));
                    tracing::warn!(idle = ?this.idle, "upstream body stalled");
                    this.end(Outcome::UpstreamBroken);
                    return Poll::Ready(Some(Err(RelayError::Idle(this.idle))));
                }
            }
        }
    }
}
