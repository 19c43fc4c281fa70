//! A thin client for the llmgateway.v1 gRPC API on tonic, with the generated stubs in [`v1`].
//!
//! [`Client`] adds what every caller needs: an API key sent as `authorization: Bearer KEY`, TLS
//! (native roots) or plaintext, default deadlines, the recommended retry policy, streams as
//! [`tokio_stream::Stream`]s, and google.rpc error details decoded into [`Error`].
//!
//! ```no_run
//! # async fn run() -> Result<(), llmgateway_client::Error> {
//! use llmgateway_client::{text_request, Client};
//!
//! let client = Client::builder("http://localhost:50051").api_key("llmgw-...").build()?;
//! let reply = client.chat(text_request("gpt-4o-mini", "Hello!")).await?;
//! println!("{:?} via {:?}", reply.get_ref().message, reply.metadata().get("x-llmgateway-provider"));
//!
//! let mut stream = client.chat_stream(text_request("gpt-4o-mini", "Count to ten").into()).await?;
//! while let Some(text) = stream.next_text().await {
//!     print!("{}", text?);
//! }
//! # Ok(())
//! # }
//! ```

// Errors carry the decoded details and the status itself; the error path is not hot, so they are
// returned by value, as tonic returns its own (large) Status.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio_stream::Stream;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_types::StatusExt;

/// The generated messages and tonic stubs of `llmgateway.v1`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    include!("gen/llmgateway.v1.rs");
}

/// The generated messages and tonic stubs of `llmgateway.admin.v1` (the AdminService).
#[allow(clippy::all, missing_docs)]
pub mod admin {
    /// Version 1 of the AdminService.
    pub mod v1 {
        include!("gen/llmgateway.admin.v1.rs");
    }
}

use v1::chat_service_client::ChatServiceClient;
use v1::embedding_service_client::EmbeddingServiceClient;
use v1::model_service_client::ModelServiceClient;

/// The recommended gRPC retry service config, the same JSON as every llmgateway client: 3
/// attempts, exponential backoff, UNAVAILABLE only. tonic has no service-config retries, so
/// [`Client`] applies its policy to unary calls itself.
pub const RETRY_SERVICE_CONFIG: &str = include_str!("service_config.json");

/// A failed call, with google.rpc.ErrorInfo and RetryInfo decoded.
#[derive(Debug)]
pub struct Error {
    /// The gRPC code. A deadline that expires in the client is DEADLINE_EXCEEDED here (tonic itself
    /// says CANCELLED "Timeout expired").
    pub code: Code,
    pub message: String,
    /// ErrorInfo's reason (e.g. "MODEL_NOT_FOUND"), domain ("llmgateway") and metadata; empty when
    /// the failure happened before the gateway.
    pub reason: String,
    pub domain: String,
    pub metadata: HashMap<String, String>,
    /// RetryInfo's delay, when the gateway sent one.
    pub retry_delay: Option<Duration>,
    /// The whole status, for the other details (`tonic_types::StatusExt`).
    pub status: Status,
}

impl Error {
    /// Decodes a status from any call.
    pub fn from_status(status: Status) -> Self {
        let timed_out = status.code() == Code::Cancelled
            && status.message() == tonic::TimeoutExpired(()).to_string();
        let code = if timed_out {
            Code::DeadlineExceeded
        } else {
            status.code()
        };
        let info = status.get_details_error_info();
        let retry_delay = status
            .get_details_retry_info()
            .and_then(|retry| retry.retry_delay);
        Error {
            code,
            message: status.message().to_string(),
            reason: info.as_ref().map(|i| i.reason.clone()).unwrap_or_default(),
            domain: info.as_ref().map(|i| i.domain.clone()).unwrap_or_default(),
            metadata: info.map(|i| i.metadata).unwrap_or_default(),
            retry_delay,
            status,
        }
    }

    fn cancelled() -> Self {
        Error::from_status(Status::cancelled("cancelled by the caller"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{:?}: {}", self.code, self.message)
        } else {
            write!(f, "{:?} {}: {}", self.code, self.reason, self.message)
        }
    }
}

impl std::error::Error for Error {}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Error::from_status(status)
    }
}

/// Sends the API key on every call.
#[derive(Clone)]
pub struct ApiKey(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for ApiKey {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The retry policy of a gRPC service config.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub backoff_multiplier: f64,
    pub retryable_codes: Vec<Code>,
}

impl RetryPolicy {
    /// The policy in a service config's first methodConfig that has one (none: a single attempt).
    pub fn from_service_config(json: &str) -> Result<Self, serde_json::Error> {
        let config: serde_json::Value = serde_json::from_str(json)?;
        let policy = config["methodConfig"]
            .as_array()
            .and_then(|methods| methods.iter().find_map(|m| m.get("retryPolicy")))
            .cloned()
            .unwrap_or_default();
        let seconds = |key: &str| {
            let text = policy[key].as_str().unwrap_or("0s").trim_end_matches('s');
            Duration::from_secs_f64(text.parse().unwrap_or(0.0))
        };
        let codes = policy["retryableStatusCodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(RetryPolicy {
            max_attempts: policy["maxAttempts"].as_u64().unwrap_or(1) as u32,
            initial_backoff: seconds("initialBackoff"),
            max_backoff: seconds("maxBackoff"),
            backoff_multiplier: policy["backoffMultiplier"].as_f64().unwrap_or(1.0),
            retryable_codes: codes
                .iter()
                .filter_map(|c| match c.as_str() {
                    Some("UNAVAILABLE") => Some(Code::Unavailable),
                    Some("RESOURCE_EXHAUSTED") => Some(Code::ResourceExhausted),
                    Some("ABORTED") => Some(Code::Aborted),
                    _ => None,
                })
                .collect(),
        })
    }
}

/// Options of [`Client`].
pub struct ClientBuilder {
    uri: String,
    api_key: Option<String>,
    tls: Option<ClientTlsConfig>,
    timeout: Option<Duration>,
    stream_timeout: Option<Duration>,
    retry: RetryPolicy,
}

impl ClientBuilder {
    /// Sends `authorization: Bearer KEY` on every call.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    /// TLS settings (your own CA, a client identity for mTLS). An `https://` URI without this uses
    /// the system's roots.
    pub fn tls(mut self, tls: ClientTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }
    /// The deadline of unary calls (None: none). Default 60 s.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
    /// The deadline sent with streams (None: none). Default 10 min.
    pub fn stream_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.stream_timeout = timeout;
        self
    }
    /// Replaces the retry policy (RETRY_SERVICE_CONFIG's by default).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The client; it connects on its first call.
    pub fn build(self) -> Result<Client, Error> {
        let invalid =
            |e: &dyn std::error::Error| Error::from_status(Status::invalid_argument(e.to_string()));
        let mut endpoint = Endpoint::from_shared(self.uri.clone()).map_err(|e| invalid(&e))?;
        if self.uri.starts_with("https://") {
            let tls = self
                .tls
                .unwrap_or_else(|| ClientTlsConfig::new().with_native_roots());
            endpoint = endpoint.tls_config(tls).map_err(|e| invalid(&e))?;
        }
        let key =
            match self.api_key {
                Some(key) => Some(MetadataValue::try_from(format!("Bearer {key}")).map_err(
                    |_| Error::from_status(Status::invalid_argument("the API key is not ASCII")),
                )?),
                None => None,
            };
        let channel = endpoint.connect_lazy();
        let auth = ApiKey(key);
        Ok(Client {
            chat: ChatServiceClient::with_interceptor(channel.clone(), auth.clone()),
            embeddings: EmbeddingServiceClient::with_interceptor(channel.clone(), auth.clone()),
            models: ModelServiceClient::with_interceptor(channel, auth),
            timeout: self.timeout,
            stream_timeout: self.stream_timeout,
            retry: self.retry,
        })
    }
}

/// One channel to a gateway; cheap to clone, safe to share.
#[derive(Clone)]
pub struct Client {
    chat: ChatServiceClient<InterceptedService<Channel, ApiKey>>,
    embeddings: EmbeddingServiceClient<InterceptedService<Channel, ApiKey>>,
    models: ModelServiceClient<InterceptedService<Channel, ApiKey>>,
    timeout: Option<Duration>,
    stream_timeout: Option<Duration>,
    retry: RetryPolicy,
}

impl Client {
    /// A builder for the gateway at `uri` (`http://host:port` for plaintext, `https://host:port`).
    pub fn builder(uri: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            uri: uri.into(),
            api_key: None,
            tls: None,
            timeout: Some(Duration::from_secs(60)),
            stream_timeout: Some(Duration::from_secs(600)),
            retry: RetryPolicy::from_service_config(RETRY_SERVICE_CONFIG)
                .expect("the bundled service config parses"),
        }
    }

    /// The generated stubs, for anything the helper does not cover.
    pub fn chat_stub(&self) -> ChatServiceClient<InterceptedService<Channel, ApiKey>> {
        self.chat.clone()
    }

    /// One unary call with the default deadline; the response's metadata carries the gateway's
    /// x-llmgateway-* report (sent as trailers; tonic merges them into a unary response's metadata).
    pub async fn chat(
        &self,
        request: v1::ChatRequest,
    ) -> Result<Response<v1::ChatResponse>, Error> {
        self.chat_with_timeout(request, self.timeout).await
    }

    /// One unary call with the given deadline (None: none), retried per the retry policy.
    pub async fn chat_with_timeout(
        &self,
        request: v1::ChatRequest,
        timeout: Option<Duration>,
    ) -> Result<Response<v1::ChatResponse>, Error> {
        let mut backoff = self.retry.initial_backoff;
        let mut attempt = 1;
        loop {
            let mut call = Request::new(request.clone());
            if let Some(timeout) = timeout {
                call.set_timeout(timeout);
            }
            match self.chat.clone().chat(call).await {
                Ok(response) => return Ok(response),
                Err(status)
                    if attempt < self.retry.max_attempts
                        && self.retry.retryable_codes.contains(&status.code()) =>
                {
                    attempt += 1;
                    tokio::time::sleep(backoff.mul_f64(jitter())).await;
                    backoff = backoff
                        .mul_f64(self.retry.backoff_multiplier)
                        .min(self.retry.max_backoff);
                }
                Err(status) => return Err(Error::from_status(status)),
            }
        }
    }

    /// Streams one reply with the default stream deadline.
    pub async fn chat_stream(&self, request: v1::ChatStreamRequest) -> Result<ChatStream, Error> {
        self.chat_stream_with_timeout(request, self.stream_timeout)
            .await
    }

    /// Streams one reply with the given deadline (None: none).
    pub async fn chat_stream_with_timeout(
        &self,
        request: v1::ChatStreamRequest,
        timeout: Option<Duration>,
    ) -> Result<ChatStream, Error> {
        let mut call = Request::new(request);
        if let Some(timeout) = timeout {
            call.set_timeout(timeout);
        }
        let response = self.chat.clone().chat_stream(call).await?;
        let headers = response.metadata().clone();
        Ok(ChatStream {
            inner: Some(response.into_inner()),
            headers,
            cancelled: false,
        })
    }

    /// One embedding per input, in input order, with the default deadline.
    pub async fn embed(&self, request: v1::EmbedRequest) -> Result<v1::EmbedResponse, Error> {
        let mut call = Request::new(request);
        if let Some(timeout) = self.timeout {
            call.set_timeout(timeout);
        }
        Ok(self.embeddings.clone().embed(call).await?.into_inner())
    }

    /// The models the gateway serves.
    pub async fn list_models(&self) -> Result<v1::ListModelsResponse, Error> {
        let mut call = Request::new(v1::ListModelsRequest::default());
        if let Some(timeout) = self.timeout {
            call.set_timeout(timeout);
        }
        Ok(self.models.clone().list_models(call).await?.into_inner())
    }
}

/// Full jitter without a random-number crate: the sub-second clock is spread enough for backoff.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

/// A streaming reply: a [`Stream`] of chunks (use `tokio_stream::StreamExt::next`). Dropping it
/// cancels the call; so does [`ChatStream::cancel`], after which the stream yields one CANCELLED
/// error, as the other llmgateway clients do.
pub struct ChatStream {
    inner: Option<Streaming<v1::ChatStreamResponse>>,
    headers: tonic::metadata::MetadataMap,
    cancelled: bool,
}

impl ChatStream {
    /// The response headers.
    pub fn headers(&self) -> &tonic::metadata::MetadataMap {
        &self.headers
    }

    /// The gateway's report (x-llmgateway-provider, ...), which it sends as trailers: call it once
    /// the stream has yielded its last chunk (before that it waits for the end). None after cancel.
    pub async fn trailers(&mut self) -> Result<Option<tonic::metadata::MetadataMap>, Error> {
        match self.inner.as_mut() {
            Some(inner) => inner.trailers().await.map_err(Error::from_status),
            None => Ok(None),
        }
    }

    /// The next piece of the reply's text, skipping the chunks that carry none (the first, which
    /// names the model and provider; the last, with the usage; reasoning and tool-call deltas):
    /// `while let Some(text) = stream.next_text().await { print!("{}", text?); }`. None at the end;
    /// errors and cancelling as for the chunks, which [`StreamExt::next`](tokio_stream::StreamExt::next) gives whole.
    pub async fn next_text(&mut self) -> Option<Result<String, Error>> {
        use tokio_stream::StreamExt;
        while let Some(item) = self.next().await {
            match item {
                Ok(chunk) => match chunk.delta {
                    Some(delta) if !delta.text.is_empty() => return Some(Ok(delta.text)),
                    _ => continue,
                },
                Err(error) => return Some(Err(error)),
            }
        }
        None
    }

    /// Cancels the call (the gateway and the provider stop at once).
    pub fn cancel(&mut self) {
        self.inner = None;
        self.cancelled = true;
    }
}

impl Stream for ChatStream {
    type Item = Result<v1::ChatStreamResponse, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.inner.as_mut() {
            Some(inner) => match Pin::new(inner).poll_next(cx) {
                Poll::Ready(Some(Err(status))) => {
                    this.inner = None;
                    Poll::Ready(Some(Err(Error::from_status(status))))
                }
                other => other.map(|item| item.map(|chunk| chunk.map_err(Error::from_status))),
            },
            None if this.cancelled => {
                this.cancelled = false;
                Poll::Ready(Some(Err(Error::cancelled())))
            }
            None => Poll::Ready(None),
        }
    }
}

/// A request with one user message.
pub fn text_request(model: &str, text: &str) -> v1::ChatRequest {
    v1::ChatRequest {
        model: model.to_string(),
        messages: vec![v1::Message {
            role: v1::Role::User as i32,
            parts: vec![v1::Part {
                kind: Some(v1::part::Kind::Text(text.to_string())),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

impl From<v1::ChatRequest> for v1::ChatStreamRequest {
    /// The same request for ChatStream (the two messages share their fields and numbers).
    fn from(request: v1::ChatRequest) -> Self {
        use prost::Message;
        v1::ChatStreamRequest::decode(request.encode_to_vec().as_slice())
            .expect("same fields, same numbers")
    }
}
