use std::time::Duration;

use llmgateway_client::{text_request, v1, Error, RetryPolicy, RETRY_SERVICE_CONFIG};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

#[test]
fn error_details_are_decoded() {
    let mut details = ErrorDetails::with_retry_info(Some(Duration::from_millis(1500)));
    details.set_error_info(
        "RATE_LIMITED",
        "llmgateway",
        [("k".to_string(), "v".to_string())],
    );
    let status = Status::with_error_details(Code::ResourceExhausted, "slow down", details);
    let error = Error::from_status(status);
    assert_eq!(error.code, Code::ResourceExhausted);
    assert_eq!(error.reason, "RATE_LIMITED");
    assert_eq!(error.domain, "llmgateway");
    assert_eq!(error.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(error.retry_delay, Some(Duration::from_millis(1500)));
    assert_eq!(error.message, "slow down");
}

#[test]
fn a_client_side_timeout_is_deadline_exceeded() {
    let error = Error::from_status(Status::cancelled(tonic::TimeoutExpired(()).to_string()));
    assert_eq!(error.code, Code::DeadlineExceeded);
    assert_eq!(
        Error::from_status(Status::cancelled("by the peer")).code,
        Code::Cancelled
    );
}

#[test]
fn the_retry_policy_is_the_shared_one() {
    let shared = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/service_config.json"
    ))
    .unwrap();
    let ours: serde_json::Value = serde_json::from_str(RETRY_SERVICE_CONFIG).unwrap();
    assert_eq!(
        ours,
        serde_json::from_str::<serde_json::Value>(&shared).unwrap()
    );
    let policy = RetryPolicy::from_service_config(RETRY_SERVICE_CONFIG).unwrap();
    assert_eq!(policy.max_attempts, 3);
    assert_eq!(policy.initial_backoff, Duration::from_millis(250));
    assert_eq!(policy.max_backoff, Duration::from_secs(4));
    assert_eq!(policy.retryable_codes, vec![Code::Unavailable]);
}

#[test]
fn a_chat_request_converts_to_a_stream_request() {
    let stream: v1::ChatStreamRequest = text_request("m", "hi").into();
    assert_eq!(stream.model, "m");
    assert_eq!(
        stream.messages[0].parts[0].kind,
        Some(v1::part::Kind::Text("hi".into()))
    );
}
