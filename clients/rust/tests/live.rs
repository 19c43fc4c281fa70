//! The cross-language cases (clients/testdata/cases.json) against the real gateway that
//! clients/testdata/harness.py starts; each case is skipped (with a line saying so) when
//! LLMGATEWAY_TEST_ADDR is not set.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use llmgateway_client::v1::part::Kind;
use llmgateway_client::{v1, ChatStream, Client, Error};
use serde_json::Value;
use tokio_stream::StreamExt;
use tonic::Code;

/// The proto3 JSON of the case requests, for the fields the case file uses. Anything else fails
/// loudly, so a new case cannot be half-read here (prost has no JSON mapping of its own).
fn request(json: &Value) -> v1::ChatRequest {
    let mut request = v1::ChatRequest::default();
    for (key, value) in json.as_object().expect("a request object") {
        match key.as_str() {
            "model" => request.model = value.as_str().unwrap().to_string(),
            "requestId" | "request_id" => request.request_id = value.as_str().unwrap().to_string(),
            "messages" => {
                for message in value.as_array().unwrap() {
                    let role = v1::Role::from_str_name(message["role"].as_str().unwrap())
                        .expect("a role name");
                    let parts = message["parts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|part| v1::Part {
                            kind: Some(v1::part::Kind::Text(
                                part["text"].as_str().unwrap().to_string(),
                            )),
                            ..Default::default()
                        })
                        .collect();
                    request.messages.push(v1::Message {
                        role: role as i32,
                        parts,
                        ..Default::default()
                    });
                }
            }
            "tools" => {
                for tool in value.as_array().unwrap() {
                    request.tools.push(v1::Tool {
                        name: tool["name"].as_str().unwrap().to_string(),
                        description: tool["description"].as_str().unwrap_or_default().to_string(),
                        parameters: tool.get("parameters").map(proto_struct),
                        ..Default::default()
                    });
                }
            }
            "generationConfig" | "generation_config" => {
                request.generation_config = Some(generation_config(value))
            }
            other => panic!("the Rust runner does not read request field {other:?} yet"),
        }
    }
    request
}

fn generation_config(json: &Value) -> v1::GenerationConfig {
    let mut config = v1::GenerationConfig::default();
    for (key, value) in json.as_object().expect("a generation config object") {
        match key.as_str() {
            "reasoning" => {
                let mut reasoning = v1::ReasoningConfig::default();
                for (key, value) in value.as_object().unwrap() {
                    match key.as_str() {
                        "effort" => {
                            reasoning.effort =
                                v1::reasoning_config::Effort::from_str_name(value.as_str().unwrap())
                                    .expect("an effort name") as i32
                        }
                        "budgetTokens" | "budget_tokens" => {
                            reasoning.budget_tokens = Some(value.as_i64().unwrap() as i32)
                        }
                        "includeThoughts" | "include_thoughts" => {
                            reasoning.include_thoughts = value.as_bool().unwrap()
                        }
                        other => {
                            panic!("the Rust runner does not read reasoning field {other:?} yet")
                        }
                    }
                }
                config.reasoning = Some(reasoning);
            }
            other => panic!("the Rust runner does not read generation config field {other:?} yet"),
        }
    }
    config
}

/// A JSON object as a protobuf Struct (a tool's parameter schema).
fn proto_struct(json: &Value) -> prost_types::Struct {
    let fields: BTreeMap<String, prost_types::Value> = json
        .as_object()
        .expect("an object")
        .iter()
        .map(|(key, value)| (key.clone(), proto_value(value)))
        .collect();
    prost_types::Struct { fields }
}

fn proto_value(json: &Value) -> prost_types::Value {
    use prost_types::value::Kind as ValueKind;
    let kind = match json {
        Value::Null => ValueKind::NullValue(0),
        Value::Bool(value) => ValueKind::BoolValue(*value),
        Value::Number(value) => ValueKind::NumberValue(value.as_f64().unwrap()),
        Value::String(value) => ValueKind::StringValue(value.clone()),
        Value::Array(items) => ValueKind::ListValue(prost_types::ListValue {
            values: items.iter().map(proto_value).collect(),
        }),
        Value::Object(_) => ValueKind::StructValue(proto_struct(json)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// The proto3 JSON of an embed case's request, for the fields the case file uses.
fn embed_request(json: &Value) -> v1::EmbedRequest {
    let mut request = v1::EmbedRequest::default();
    for (key, value) in json.as_object().expect("a request object") {
        match key.as_str() {
            "model" => request.model = value.as_str().unwrap().to_string(),
            "inputs" => {
                request.inputs = value
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|text| text.as_str().unwrap().to_string())
                    .collect()
            }
            "dimensions" => request.dimensions = Some(value.as_i64().unwrap() as i32),
            other => panic!("the Rust runner does not read embed request field {other:?} yet"),
        }
    }
    request
}

fn check_embeddings(case: &Value, response: &v1::EmbedResponse) {
    let expect = &case["expect"];
    let name = &case["name"];
    assert_eq!(
        response.provider,
        expect["provider"].as_str().unwrap(),
        "{name}"
    );
    assert_eq!(response.model, expect["model"].as_str().unwrap(), "{name}");
    let want = expect["embeddings"].as_array().unwrap();
    assert_eq!(response.embeddings.len(), want.len(), "{name}");
    for (i, (embedding, values)) in response.embeddings.iter().zip(want).enumerate() {
        assert_eq!(embedding.index, i as i32, "{name}");
        let values = values.as_array().unwrap();
        assert_eq!(embedding.values.len(), values.len(), "{name}");
        for (got, want) in embedding.values.iter().zip(values) {
            let want = want.as_f64().unwrap();
            assert!(
                (f64::from(*got) - want).abs() <= 1e-6,
                "{name}: {got} vs {want}"
            );
        }
    }
    let tokens = response.usage.as_ref().map(|u| u.input_tokens).unwrap_or(0);
    assert!(
        i64::from(tokens) >= expect["min_input_tokens"].as_i64().unwrap(),
        "{name}"
    );
}

fn check_error(case: &Value, error: &Error) {
    let want = &case["expect"]["error"];
    assert!(
        want.is_object(),
        "{}: unexpected error {error}",
        case["name"]
    );
    let code = match want["code"].as_str().unwrap() {
        "UNAUTHENTICATED" => Code::Unauthenticated,
        "NOT_FOUND" => Code::NotFound,
        "RESOURCE_EXHAUSTED" => Code::ResourceExhausted,
        "DEADLINE_EXCEEDED" => Code::DeadlineExceeded,
        "CANCELLED" => Code::Cancelled,
        "INVALID_ARGUMENT" => Code::InvalidArgument,
        "PERMISSION_DENIED" => Code::PermissionDenied,
        "UNAVAILABLE" => Code::Unavailable,
        other => panic!("add the code {other} to the Rust runner"),
    };
    assert_eq!(error.code, code, "{}: {error}", case["name"]);
    if let Some(reason) = want["reason"].as_str() {
        assert_eq!(error.reason, reason, "{}", case["name"]);
    }
    if let Some(delay) = want["retry_delay_s"].as_f64() {
        assert_eq!(
            error.retry_delay,
            Some(Duration::from_secs_f64(delay)),
            "{}",
            case["name"]
        );
    }
}

fn check_reply(case: &Value, text: &str, provider: &str, finish: i32, usage: Option<&v1::Usage>) {
    let expect = &case["expect"];
    let name = &case["name"];
    if let Some(want) = expect["text"].as_str() {
        assert_eq!(text, want, "{name}");
    }
    if let Some(want) = expect["provider"].as_str() {
        assert_eq!(provider, want, "{name}");
    }
    if let Some(want) = expect["finish_reason"].as_str() {
        assert_eq!(
            v1::FinishReason::try_from(finish).unwrap().as_str_name(),
            want,
            "{name}"
        );
    }
    if let Some(want) = expect["min_output_tokens"].as_i64() {
        assert!(
            usage.map(|u| i64::from(u.output_tokens)).unwrap_or(0) >= want,
            "{name}: usage {usage:?}"
        );
    }
}

/// A stream read through the text-only helper: every piece is non-empty text.
async fn read_text(case: &Value, stream: &mut ChatStream, cancel_after: Option<usize>) {
    let expect = &case["expect"];
    let name = &case["name"];
    let mut pieces: Vec<String> = Vec::new();
    while let Some(item) = stream.next_text().await {
        match item {
            Ok(piece) => {
                assert!(
                    !piece.is_empty(),
                    "{name}: the text helper yielded an empty piece"
                );
                pieces.push(piece);
                if Some(pieces.len()) == cancel_after {
                    stream.cancel();
                }
            }
            Err(error) => {
                check_error(case, &error);
                if let Some(max) = expect["max_chunks"].as_u64() {
                    assert!(
                        pieces.len() as u64 <= max,
                        "{name}: {} pieces",
                        pieces.len()
                    );
                }
                return;
            }
        }
    }
    assert!(
        expect["error"].is_null(),
        "{name}: expected an error after {} pieces",
        pieces.len()
    );
    let min_pieces = expect["min_pieces"].as_u64().unwrap_or(1) as usize;
    assert!(
        pieces.len() >= min_pieces,
        "{name}: {} pieces",
        pieces.len()
    );
    if let Some(want) = expect["text"].as_str() {
        assert_eq!(pieces.concat(), want, "{name}");
    }
}

/// The assistant message a stream carries, rebuilt as chat.proto's Delta says: parts in the order
/// the stream first mentions them (within one delta: reasoning, refusal, text, tool calls), each
/// part's fragments joined in order.
fn assemble(chunks: &[v1::ChatStreamResponse]) -> v1::Message {
    let mut parts: Vec<v1::Part> = Vec::new();
    let mut known: HashMap<(&str, i32), usize> = HashMap::new();
    let mut slot = |parts: &mut Vec<v1::Part>, key: (&'static str, i32), empty: Kind| -> usize {
        *known.entry(key).or_insert_with(|| {
            parts.push(v1::Part {
                kind: Some(empty),
                ..Default::default()
            });
            parts.len() - 1
        })
    };
    for delta in chunks.iter().filter_map(|chunk| chunk.delta.as_ref()) {
        if !(delta.reasoning.is_empty()
            && delta.reasoning_signature.is_empty()
            && delta.reasoning_redacted_data.is_empty()
            && delta.reasoning_origin.is_empty())
        {
            let at = slot(
                &mut parts,
                ("reasoning", delta.reasoning_index),
                Kind::Reasoning(v1::Reasoning::default()),
            );
            if let Some(Kind::Reasoning(reasoning)) = parts[at].kind.as_mut() {
                reasoning.text.push_str(&delta.reasoning);
                reasoning.signature.push_str(&delta.reasoning_signature);
                reasoning
                    .redacted_data
                    .push_str(&delta.reasoning_redacted_data);
                if reasoning.origin.is_empty() {
                    reasoning.origin = delta.reasoning_origin.clone();
                }
            }
        }
        if !delta.refusal.is_empty() {
            let at = slot(&mut parts, ("refusal", 0), Kind::Refusal(String::new()));
            if let Some(Kind::Refusal(refusal)) = parts[at].kind.as_mut() {
                refusal.push_str(&delta.refusal);
            }
        }
        if !delta.text.is_empty() {
            let at = slot(&mut parts, ("text", 0), Kind::Text(String::new()));
            if let Some(Kind::Text(text)) = parts[at].kind.as_mut() {
                text.push_str(&delta.text);
            }
        }
        for fragment in &delta.tool_calls {
            let at = slot(
                &mut parts,
                ("tool_call", fragment.index),
                Kind::ToolCall(v1::ToolCall::default()),
            );
            if let Some(Kind::ToolCall(call)) = parts[at].kind.as_mut() {
                call.id.push_str(&fragment.id);
                call.name.push_str(&fragment.name);
                call.arguments_json
                    .push_str(&fragment.arguments_json_fragment);
            }
        }
    }
    v1::Message {
        role: v1::Role::Assistant as i32,
        parts,
        ..Default::default()
    }
}

/// A turn's answer, whether it came whole or streamed.
struct Turn {
    message: v1::Message,
    finish: i32,
    provider: String,
    usage: Option<v1::Usage>,
}

async fn ask(
    case: &Value,
    client: &Client,
    request: &v1::ChatRequest,
    deadline: Option<Duration>,
) -> Turn {
    let name = &case["name"];
    if case["kind"] == "tool_loop" {
        let reply = client
            .chat_with_timeout(request.clone(), deadline)
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"))
            .into_inner();
        return Turn {
            message: reply.message.unwrap_or_default(),
            finish: reply.finish_reason,
            provider: reply.provider,
            usage: reply.usage,
        };
    }
    let mut stream = client
        .chat_stream_with_timeout(request.clone().into(), deadline)
        .await
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        chunks.push(item.unwrap_or_else(|error| panic!("{name}: {error}")));
    }
    assert!(!chunks.is_empty(), "{name}: an empty stream");
    let finish = chunks
        .iter()
        .rev()
        .map(|c| c.finish_reason)
        .find(|f| *f != 0)
        .unwrap_or(0);
    Turn {
        message: assemble(&chunks),
        finish,
        provider: chunks[0].provider.clone(),
        usage: chunks.last().and_then(|c| c.usage.clone()),
    }
}

/// Turn 1 of a tool loop: signed reasoning from the expected signer and one tool call; returns the
/// tool's result for it.
fn tool_result_for(case: &Value, turn: &Turn) -> v1::Message {
    let name = &case["name"];
    let expect = &case["expect"];
    assert_eq!(turn.finish, v1::FinishReason::ToolCalls as i32, "{name}");
    let signed: Vec<&v1::Reasoning> = turn
        .message
        .parts
        .iter()
        .filter_map(|part| match &part.kind {
            Some(Kind::Reasoning(reasoning)) if !reasoning.signature.is_empty() => Some(reasoning),
            _ => None,
        })
        .collect();
    assert!(
        !signed.is_empty(),
        "{name}: no signed reasoning in {:?}",
        turn.message
    );
    for reasoning in &signed {
        assert_eq!(
            reasoning.origin,
            expect["reasoning_origin"].as_str().unwrap(),
            "{name}"
        );
    }
    let calls: Vec<&v1::ToolCall> = turn
        .message
        .parts
        .iter()
        .filter_map(|part| match &part.kind {
            Some(Kind::ToolCall(call)) => Some(call),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 1, "{name}: {calls:?}");
    assert_eq!(
        calls[0].name,
        expect["tool_name"].as_str().unwrap(),
        "{name}"
    );
    assert!(!calls[0].id.is_empty(), "{name}: a tool call without an id");
    let result = v1::ToolResult {
        tool_call_id: calls[0].id.clone(),
        content: vec![v1::Part {
            kind: Some(Kind::Text(
                case["tool_result"].as_str().unwrap().to_string(),
            )),
            ..Default::default()
        }],
        ..Default::default()
    };
    v1::Message {
        role: v1::Role::Tool as i32,
        parts: vec![v1::Part {
            kind: Some(Kind::ToolResult(result)),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A tool loop: turn 1 answers signed reasoning and a tool call; the assistant turn goes back
/// exactly as received with the tool's result, and turn 2 answers. Both turns unary, or both
/// streamed.
async fn run_tool_loop(case: &Value, client: &Client, deadline: Option<Duration>) {
    let mut request = request(&case["request"]);
    let first = ask(case, client, &request, deadline).await;
    let result = tool_result_for(case, &first);
    request.messages.push(first.message);
    request.messages.push(result);
    let answer = ask(case, client, &request, deadline).await;
    let text: String = answer
        .message
        .parts
        .iter()
        .filter_map(|part| match &part.kind {
            Some(Kind::Text(text)) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    check_reply(
        case,
        &text,
        &answer.provider,
        answer.finish,
        answer.usage.as_ref(),
    );
}

async fn run(case: &Value, address: &str, default_key: &str) {
    let key = case
        .get("api_key")
        .and_then(Value::as_str)
        .unwrap_or(default_key);
    let mut builder = Client::builder(format!("http://{address}"));
    if !key.is_empty() {
        builder = builder.api_key(key);
    }
    let client = builder.build().unwrap();
    let deadline = Some(Duration::from_millis(
        case["deadline_ms"].as_u64().unwrap_or(30_000),
    ));
    let expect = &case["expect"];
    if case["kind"] == "embed" {
        let response = client.embed(embed_request(&case["request"])).await.unwrap();
        check_embeddings(case, &response);
        return;
    }
    if case["kind"] == "tool_loop" || case["kind"] == "tool_loop_stream" {
        return run_tool_loop(case, &client, deadline).await;
    }
    if case["kind"] == "unary" {
        match client
            .chat_with_timeout(request(&case["request"]), deadline)
            .await
        {
            Err(error) => check_error(case, &error),
            Ok(response) => {
                assert!(
                    expect["error"].is_null(),
                    "{}: expected an error",
                    case["name"]
                );
                for (header, want) in expect["metadata"].as_object().into_iter().flatten() {
                    let got = response
                        .metadata()
                        .get(header.as_str())
                        .and_then(|v| v.to_str().ok());
                    assert_eq!(got, want.as_str(), "{}: header {header}", case["name"]);
                }
                let reply = response.into_inner();
                let text: String = reply
                    .message
                    .iter()
                    .flat_map(|m| &m.parts)
                    .filter_map(|p| match &p.kind {
                        Some(v1::part::Kind::Text(text)) => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                check_reply(
                    case,
                    &text,
                    &reply.provider,
                    reply.finish_reason,
                    reply.usage.as_ref(),
                );
            }
        }
        return;
    }
    let mut stream = match client
        .chat_stream_with_timeout(request(&case["request"]).into(), deadline)
        .await
    {
        Ok(stream) => stream,
        Err(error) => return check_error(case, &error),
    };
    let cancel_after = case["cancel_after_chunks"].as_u64().map(|n| n as usize);
    if case["kind"] == "stream_text" {
        return read_text(case, &mut stream, cancel_after).await;
    }
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => {
                chunks.push(chunk);
                if Some(chunks.len()) == cancel_after {
                    stream.cancel();
                }
            }
            Err(error) => {
                check_error(case, &error);
                if let Some(max) = expect["max_chunks"].as_u64() {
                    assert!(
                        chunks.len() as u64 <= max,
                        "{}: {} chunks",
                        case["name"],
                        chunks.len()
                    );
                }
                return;
            }
        }
    }
    assert!(
        expect["error"].is_null(),
        "{}: expected an error after {} chunks",
        case["name"],
        chunks.len()
    );
    let min_chunks = expect["min_chunks"].as_u64().unwrap_or(1) as usize;
    assert!(
        chunks.len() >= min_chunks,
        "{}: {} chunks",
        case["name"],
        chunks.len()
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c.delta.as_ref())
        .map(|d| d.text.as_str())
        .collect();
    let finish = chunks
        .iter()
        .rev()
        .map(|c| c.finish_reason)
        .find(|f| *f != 0)
        .unwrap_or(0);
    check_reply(
        case,
        &text,
        &chunks[0].provider,
        finish,
        chunks.last().and_then(|c| c.usage.as_ref()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_cases() {
    let Ok(address) = std::env::var("LLMGATEWAY_TEST_ADDR") else {
        println!("skipped: LLMGATEWAY_TEST_ADDR is not set: run through clients/testdata/harness.py (make test-clients)");
        return;
    };
    let path = std::env::var("LLMGATEWAY_TEST_CASES").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/cases.json").to_string()
    });
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let features = std::env::var("LLMGATEWAY_TEST_FEATURES").unwrap_or_default();
    let features: Vec<&str> = features.split(',').collect();
    let key = std::env::var("LLMGATEWAY_TEST_API_KEY").unwrap_or_default();
    let (mut ran, mut skipped) = (0, 0);
    for case in file["cases"].as_array().unwrap() {
        if let Some(requires) = case["requires"].as_str() {
            if !features.contains(&requires) {
                println!(
                    "skipped {}: requires {requires:?}: {}",
                    case["name"], case["skip_reason"]
                );
                skipped += 1;
                continue;
            }
        }
        run(case, &address, &key).await;
        println!("passed {}", case["name"]);
        ran += 1;
    }
    println!("live cases: {ran} passed, {skipped} skipped");
}
