//! Deadlines on reading request bodies: a client that stops sending in the middle of a body,
//! or trickles it, no longer holds a request (and its task, and for an upload a temporary
//! file) for ever.
//!
//! Every body is read through [`DeadlinePayload`], which fails the read when no bytes came
//! for `JEKCMS_BODY_TIMEOUT`, or when the body falls behind `JEKCMS_BODY_MIN_RATE` (the rule
//! of Apache's `mod_reqtimeout`: the body may take the timeout plus one second per
//! `MIN_RATE` bytes received). The request is then answered `400 MALFORMED_REQUEST` (the API
//! has no 408 code) and, the body being unread, actix closes the connection after it.
//! Waiting for the request head is actix's `client_request_timeout` (see `server.rs`).

use crate::errors::AppError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::{InternalError, PayloadError};
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::web::Bytes;
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;
use futures_util::future::{Either, LocalBoxFuture, Ready, ready};
use jekcms_envelope::ErrorCode;
use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// How long a body may take.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    /// The longest wait for the next bytes (`JEKCMS_BODY_TIMEOUT`).
    pub idle: Duration,
    /// Bytes per second the body must average after the first `idle` (`JEKCMS_BODY_MIN_RATE`;
    /// 0: no minimum).
    pub min_rate: u64,
}

impl BodyDeadline {
    /// The time by which the next bytes must have arrived, `received` bytes in.
    fn next_deadline(&self, started: Instant, now: Instant, received: u64) -> Instant {
        let idle = now + self.idle;
        if self.min_rate == 0 {
            return idle;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.min_rate as f64);
        idle.min(started + self.idle + earned)
    }
}

/// A request body read against a [`BodyDeadline`].
pub struct DeadlinePayload {
    inner: Payload,
    deadline: BodyDeadline,
    started: Instant,
    received: u64,
    timer: Pin<Box<Sleep>>,
    timed_out: Rc<Cell<bool>>,
}

impl DeadlinePayload {
    fn new(inner: Payload, deadline: BodyDeadline, timed_out: Rc<Cell<bool>>) -> Self {
        let started = Instant::now();
        Self {
            inner,
            deadline,
            started,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(
                deadline.next_deadline(started, started, 0),
            )),
            timed_out,
        }
    }

    fn timeout(&self) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.timed_out.set(true);
        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the request body did not arrive in time",
        )))))
    }
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.timed_out.get() {
            return this.timeout();
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.received += chunk.len() as u64;
                let now = Instant::now();
                let next = this
                    .deadline
                    .next_deadline(this.started, now, this.received);
                if next <= now {
                    return this.timeout();
                }
                this.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => this.timeout(),
                Poll::Pending => Poll::Pending,
            },
            done => done,
        }
    }
}

/// Whether the request has a body to read.
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

impl<S, B> Transform<S, ServiceRequest> for BodyDeadline
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Transform = BodyDeadlineMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(BodyDeadlineMiddleware {
            service,
            deadline: *self,
        }))
    }
}

/// The middleware itself.
pub struct BodyDeadlineMiddleware<S> {
    service: S,
    deadline: BodyDeadline,
}

type Outcome = Result<ServiceResponse<BoxBody>, actix_web::Error>;

impl<S, B> Service<ServiceRequest> for BodyDeadlineMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = Either<
        futures_util::future::MapOk<S::Future, fn(ServiceResponse<B>) -> ServiceResponse<BoxBody>>,
        LocalBoxFuture<'static, Outcome>,
    >;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        use futures_util::TryFutureExt;
        if !has_body(&req) {
            let boxed: fn(ServiceResponse<B>) -> ServiceResponse<BoxBody> =
                ServiceResponse::map_into_boxed_body;
            return Either::Left(self.service.call(req).map_ok(boxed));
        }
        let timed_out = Rc::new(Cell::new(false));
        let payload = DeadlinePayload::new(req.take_payload(), self.deadline, timed_out.clone());
        req.set_payload(Payload::from(
            Box::pin(payload) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
        ));
        let response = self.service.call(req);
        Either::Right(Box::pin(async move {
            let outcome = response.await;
            if !timed_out.get() {
                return outcome.map(ServiceResponse::map_into_boxed_body);
            }
            // Whatever the handler made of the failed read, the client is told why.
            let late = AppError::new(
                ErrorCode::MalformedRequest,
                "the request body did not arrive in time",
            );
            match outcome {
                Ok(res) => {
                    let (req, _) = res.into_parts();
                    Ok(ServiceResponse::new(req, late.error_response()))
                }
                Err(_) => Err(InternalError::from_response(
                    "request body timed out",
                    late.error_response(),
                )
                .into()),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_grows_with_the_bytes_received() {
        let rule = BodyDeadline {
            idle: Duration::from_secs(10),
            min_rate: 1000,
        };
        let t0 = Instant::now();
        // Nothing yet: the idle timeout.
        assert_eq!(rule.next_deadline(t0, t0, 0), t0 + Duration::from_secs(10));
        // Fast: 1 MB in 1 s; the idle timeout from now is the nearer one.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            rule.next_deadline(t0, t1, 1_000_000),
            t1 + Duration::from_secs(10)
        );
        // Slow: 5,000 bytes in 20 s earned 5 s on top of the first 10: already late.
        let t20 = t0 + Duration::from_secs(20);
        assert!(rule.next_deadline(t0, t20, 5_000) < t20);
        // No minimum rate: only the idle timeout.
        let idle_only = BodyDeadline {
            min_rate: 0,
            ..rule
        };
        assert_eq!(
            idle_only.next_deadline(t0, t20, 5),
            t20 + Duration::from_secs(10)
        );
    }
}
