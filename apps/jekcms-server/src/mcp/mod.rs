//! `POST /mcp`: the Model Context Protocol server (API.md §11) on the Streamable HTTP
//! transport, stateless: each POST carries one JSON-RPC message and a request is answered
//! with one `application/json` response (the transport lets a server answer so instead of
//! opening an SSE stream); a notification or response is acknowledged with `202`. With no
//! stream and no session to offer, `GET` and `DELETE` are `405` (`routes::fallback`, which
//! names `POST` in `Allow`).
//!
//! The messages are `rmcp::model`'s (the official Rust SDK's protocol types); its server
//! runtime and transports are not used, as they are built on other HTTP stacks than
//! actix-web and hold sessions this endpoint does not need.
//!
//! Authentication comes first, as HTTP ([`McpCaller`]: an `mcp_` token, the key's quota,
//! the license, the site's quota); tools (`tools.rs`, listed by `catalog.rs`, lists read by
//! `lists.rs`) and resources (`resource.rs`) then run the same service functions as the
//! REST API.

mod catalog;
mod lists;
mod resource;
mod schema;
mod tools;

use crate::errors::AppError;
use crate::extract::{JsonPayload, McpBearer, McpCaller};
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use jekcms_content::service;
use jekcms_envelope::ErrorCode as EnvelopeCode;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, ErrorCode, ErrorData, Implementation, InitializeResult,
    JsonRpcMessage, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    ProtocolVersion, ReadResourceResult, RequestId, Resource, ResourceContents, ResourceTemplate,
    ResourcesCapability, ServerCapabilities, ServerJsonRpcMessage, ServerResult, ToolsCapability,
};
use serde_json::Value;

/// The path of the endpoint.
pub const PATH: &str = "/mcp";

/// Protocol revisions this server speaks, newest first: the current one with the
/// `initialize` handshake and the earlier Streamable HTTP ones the official SDKs still send.
pub const SUPPORTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_03_26,
];

/// The header a client sends, after `initialize`, naming the negotiated revision.
const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";

/// Registers `POST /mcp`; other methods fall to `routes::fallback` (405 with `Allow`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(PATH)
            .route(web::post().to(post_mcp))
            .default_service(web::to(crate::routes::fallback)),
    );
}

/// One JSON-RPC message in, its answer out. The token is checked before anything is
/// answered; on PostgreSQL a known token's call to a reading tool sends its check with the
/// tool's first query instead (`McpBearer::read`), as a REST read does its session's.
async fn post_mcp(
    bearer: McpBearer,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonPayload,
) -> Result<HttpResponse, AppError> {
    if let Some(known) = bearer.pipelined(&state)
        && refusal(&req, &state).is_none()
    {
        let message = read_message(body).await;
        if let Ok(Ok(Message::Request(request, id))) = &message
            && let ClientRequest::CallToolRequest(call) = &**request
            && tools::only_reads(&call.params.name)
        {
            let name = &call.params.name;
            let arguments = call
                .params
                .arguments
                .clone()
                .map_or(Value::Null, Value::Object);
            let (_, outcome) = bearer
                .read(&state, known, async |caller: &McpCaller| {
                    tools::call(&state, caller, name, arguments.clone()).await
                })
                .await?;
            return Ok(match outcome {
                Some(outcome) => tool_answer(id.clone(), outcome),
                None => rpc_json(
                    StatusCode::OK,
                    &ServerJsonRpcMessage::error(no_tool(name), Some(id.clone())),
                ),
            });
        }
        let caller = bearer.check(&state).await?;
        return answer_message(&state, &caller, message?).await;
    }
    let caller = bearer.check(&state).await?;
    if let Some(refused) = refusal(&req, &state) {
        return Ok(refused);
    }
    answer_message(&state, &caller, read_message(body).await?).await
}

/// The answer to a request whose transport headers this endpoint refuses: a browser
/// `Origin` it does not allow, an `Accept` without JSON, a protocol revision it does not
/// speak.
fn refusal(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    if !origin_allowed(req, state) {
        return Some(rpc_failure(
            StatusCode::FORBIDDEN,
            None,
            ErrorData::invalid_request(
                "this Origin may not call /mcp: only the server's own origin and JEKCMS_CORS_ORIGINS",
                None,
            ),
        ));
    }
    if !accepts_json(req) {
        return Some(rpc_failure(
            StatusCode::NOT_ACCEPTABLE,
            None,
            ErrorData::invalid_request(
                "this server answers with application/json: list it in Accept (with text/event-stream)",
                None,
            ),
        ));
    }
    if let Some(version) = req.headers().get(PROTOCOL_VERSION_HEADER) {
        let known = version
            .to_str()
            .ok()
            .is_some_and(|v| SUPPORTED_VERSIONS.iter().any(|s| s.as_str() == v));
        if !known {
            return Some(rpc_failure(
                StatusCode::BAD_REQUEST,
                None,
                ErrorData::invalid_request(
                    format!(
                        "unsupported MCP-Protocol-Version; this server speaks {}",
                        versions()
                    ),
                    None,
                ),
            ));
        }
    }
    None
}

/// A message read from the body.
enum Message {
    /// A request, to be answered.
    Request(Box<ClientRequest>, RequestId),
    /// A notification or a response: nothing to answer.
    Other,
}

/// The body's message, or the answer to a body that is not one (not JSON, a batch, not a
/// JSON-RPC message, params that do not fit the method); a body the payload rules refuse
/// (too large, wrong type) is that error.
async fn read_message(body: JsonPayload) -> Result<Result<Message, HttpResponse>, AppError> {
    let value = match body.read().await {
        Ok(value) => value,
        Err(e) if e.0.code() == EnvelopeCode::MalformedRequest => {
            return Ok(Err(rpc_failure(
                StatusCode::BAD_REQUEST,
                None,
                ErrorData::parse_error("the body is not valid JSON", None),
            )));
        }
        Err(e) => return Err(e),
    };
    if value.is_array() {
        return Ok(Err(rpc_failure(
            StatusCode::BAD_REQUEST,
            None,
            ErrorData::invalid_request("send one JSON-RPC message per request (no batches)", None),
        )));
    }
    let id = request_id(&value);
    let message: ClientJsonRpcMessage = match serde_json::from_value(value) {
        Ok(message) => message,
        Err(_) => {
            let error = match id {
                Some(_) => {
                    ErrorData::invalid_params("the request's params do not fit its method", None)
                }
                None => ErrorData::invalid_request(
                    "not a JSON-RPC 2.0 request, notification or response",
                    None,
                ),
            };
            return Ok(Err(rpc_failure(StatusCode::BAD_REQUEST, id, error)));
        }
    };
    Ok(Ok(match message {
        JsonRpcMessage::Request(r) => Message::Request(Box::new(r.request), r.id),
        // Notifications (`notifications/initialized`, cancellations) and responses need
        // no answer: there is nothing in flight to cancel, and the server asks nothing.
        _ => Message::Other,
    }))
}

/// The answer to `message` from an accepted caller.
async fn answer_message(
    state: &AppState,
    caller: &McpCaller,
    message: Result<Message, HttpResponse>,
) -> Result<HttpResponse, AppError> {
    let (request, id) = match message {
        Ok(Message::Request(request, id)) => (request, id),
        Ok(Message::Other) => return Ok(HttpResponse::Accepted().finish()),
        Err(refused) => return Ok(refused),
    };
    let answer = match answer(state, caller, *request).await {
        Ok(Answer::Result(mut result)) => {
            result.strip_result_type_for_legacy_peer();
            ServerJsonRpcMessage::response(*result, id)
        }
        Ok(Answer::Tool(outcome)) => return Ok(tool_answer(id, outcome)),
        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
    };
    Ok(rpc_json(StatusCode::OK, &answer))
}

/// The answer to request `id`, a tool call that gave `outcome`.
fn tool_answer(id: RequestId, outcome: tools::Outcome) -> HttpResponse {
    match outcome {
        tools::Outcome::Output(json) => match tool_output_message(&id, &json) {
            Ok(body) => json_response(StatusCode::OK, body),
            Err(e) => actix_web::ResponseError::error_response(&AppError::internal(&e)),
        },
        tools::Outcome::Failure(result) => {
            let mut result = ServerResult::CallToolResult(result);
            result.strip_result_type_for_legacy_peer();
            rpc_json(StatusCode::OK, &ServerJsonRpcMessage::response(result, id))
        }
    }
}

/// What a request is answered with.
enum Answer {
    /// A result of `rmcp::model`, serialised with its message.
    Result(Box<ServerResult>),
    /// What a tool call gave (its successful result already serialised).
    Tool(tools::Outcome),
}

/// The JSON-RPC answer to a successful `tools/call` whose result is `output` (JSON): the
/// message `rmcp::model` would write, with `output` as the `structuredContent` and, for
/// clients older than structured content (the spec says a tool returning it SHOULD also
/// return it serialised in a text block), as the text block's string. Serialising the
/// result once and copying it into the message — rather than building a `Value` for
/// `structuredContent`, serialising it again as the text and the whole message a third
/// time — is most of what a list call costs beyond the REST list (docs/performance.md).
fn tool_output_message(id: &RequestId, output: &[u8]) -> serde_json::Result<Vec<u8>> {
    // The text block escapes `output`: about as long again, a little more for its quotes.
    let mut out = Vec::with_capacity(2 * output.len() + output.len() / 8 + 128);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut out, id)?;
    out.extend_from_slice(br#","result":{"content":[{"type":"text","text":"#);
    write_json_as_string(&mut out, output)?;
    out.extend_from_slice(br#"}],"structuredContent":"#);
    out.extend_from_slice(output);
    out.extend_from_slice(br#","isError":false}}"#);
    Ok(out)
}

/// Writes JSON text `json` as a JSON string literal, as `serde_json::to_writer` writes a
/// `str`. In JSON text only quotes and backslashes need escaping (the control characters
/// of its strings are escaped already), so the runs between them are copied whole, where
/// serde_json looks every byte up in a table: for a page of posts, most of what writing the
/// text block cost. Text with a raw control character (whitespace between tokens) is left
/// to serde_json.
fn write_json_as_string(out: &mut Vec<u8>, json: &[u8]) -> serde_json::Result<()> {
    // A fold, not `any`: it does not stop early, so it compiles to a vector loop.
    if json.iter().fold(false, |seen, &b| seen | (b < 0x20)) {
        let text = std::str::from_utf8(json).map_err(serde::ser::Error::custom)?;
        return serde_json::to_writer(out, text);
    }
    out.reserve(json.len() + json.len() / 8 + 2);
    out.push(b'"');
    let mut rest = json;
    while let Some(at) = memchr::memchr2(b'"', b'\\', rest) {
        out.extend_from_slice(&rest[..at]);
        out.push(b'\\');
        out.push(rest[at]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
    Ok(())
}

/// The answer to one request.
async fn answer(
    state: &AppState,
    caller: &McpCaller,
    request: ClientRequest,
) -> Result<Answer, ErrorData> {
    Ok(Answer::Result(Box::new(match request {
        ClientRequest::InitializeRequest(r) => {
            let asked = r.params.protocol_version;
            let version = SUPPORTED_VERSIONS
                .iter()
                .find(|v| **v == asked)
                .unwrap_or(&SUPPORTED_VERSIONS[0])
                .clone();
            let mut capabilities = ServerCapabilities::default();
            capabilities.tools = Some(ToolsCapability::default());
            capabilities.resources = Some(ResourcesCapability::default());
            ServerResult::InitializeResult(
                InitializeResult::new(capabilities)
                    .with_protocol_version(version)
                    .with_server_info(Implementation::new("jekcms", env!("CARGO_PKG_VERSION")))
                    .with_instructions(
                        "JekCMS content tools: read, create, change and publish the posts of this token's site, read its media and settings. What the token may do is its user's role.",
                    ),
            )
        }
        ClientRequest::PingRequest(_) => ServerResult::empty(()),
        ClientRequest::ListToolsRequest(_) => {
            ServerResult::ListToolsResult(ListToolsResult::with_all_items(catalog::TOOLS.clone()))
        }
        ClientRequest::CallToolRequest(r) => {
            let arguments = r.params.arguments.map_or(Value::Null, Value::Object);
            match tools::call(state, caller, &r.params.name, arguments).await {
                Some(outcome) => return Ok(Answer::Tool(outcome)),
                None => return Err(no_tool(&r.params.name)),
            }
        }
        ClientRequest::ListResourceTemplatesRequest(_) => {
            let mut template = ResourceTemplate::new(resource::POST_TEMPLATE, "post");
            template.title = Some("A post as Markdown with front matter".into());
            template.mime_type = Some(resource::MARKDOWN.into());
            ServerResult::ListResourceTemplatesResult(ListResourceTemplatesResult::with_all_items(
                vec![template],
            ))
        }
        ClientRequest::ListResourcesRequest(r) => {
            let cursor = r.params.and_then(|p| p.cursor);
            list_resources(state, caller, cursor).await?
        }
        ClientRequest::ReadResourceRequest(r) => {
            let uri = r.params.uri;
            let Some(id) = resource::post_id(&uri) else {
                return Err(ErrorData::resource_not_found(
                    format!("no resource {uri}; posts are {}", resource::POST_TEMPLATE),
                    None,
                ));
            };
            let post = service::get_post(&state.store, &caller.actor(), id)
                .await
                .map_err(|e| rpc_error(AppError::from(e)))?;
            let contents = ResourceContents::text(resource::post_markdown(&post), uri)
                .with_mime_type(resource::MARKDOWN);
            ServerResult::ReadResourceResult(ReadResourceResult::new(vec![contents]))
        }
        other => {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("method {} is not offered by this server", other.method()),
                None,
            ));
        }
    })))
}

/// The error for a call of a tool that does not exist (a protocol error, not a tool
/// failure).
fn no_tool(name: &str) -> ErrorData {
    ErrorData::invalid_params(format!("no tool named {name}; tools/list lists them"), None)
}

/// `resources/list`: the posts, a page at a time in the post list's order, its cursor.
async fn list_resources(
    state: &AppState,
    caller: &McpCaller,
    cursor: Option<String>,
) -> Result<ServerResult, ErrorData> {
    let mut args = serde_json::Map::new();
    if let Some(cursor) = cursor {
        args.insert("cursor".into(), Value::String(cursor));
    }
    let page = lists::list_posts_page(state, caller, Value::Object(args))
        .await
        .map_err(rpc_error)?;
    let resources = page
        .items
        .iter()
        .map(|post| {
            let mut r = Resource::new(resource::post_uri(post.id), post.slug.clone());
            r.title = Some(post.title.clone());
            r.mime_type = Some(resource::MARKDOWN.into());
            r
        })
        .collect();
    let mut result = ListResourcesResult::with_all_items(resources);
    result.next_cursor = page.next_cursor;
    Ok(ServerResult::ListResourcesResult(result))
}

/// A failure outside a tool as a JSON-RPC error: a missing resource is the protocol's
/// `-32002`, anything else `-32603`; the text carries the envelope's code either way.
fn rpc_error(e: AppError) -> ErrorData {
    let code = match e.0.code() {
        EnvelopeCode::NotFound => ErrorCode::RESOURCE_NOT_FOUND,
        EnvelopeCode::ValidationFailed => ErrorCode::INVALID_PARAMS,
        _ => ErrorCode::INTERNAL_ERROR,
    };
    ErrorData::new(code, tools::failure_text(&e), None)
}

/// The `id` of a message that did not parse, when it has a usable one.
fn request_id(value: &Value) -> Option<RequestId> {
    value
        .get("id")
        .filter(|_| value.get("method").is_some())
        .and_then(|id| serde_json::from_value(id.clone()).ok())
}

/// Whether a browser's `Origin` (when sent) may call: the server's own origin (its `Host`),
/// or one of `JEKCMS_CORS_ORIGINS`. The transport requires the check against DNS
/// rebinding: a page that rebinds its name to this server would otherwise reach it with the
/// browser's own network position.
fn origin_allowed(req: &HttpRequest, state: &AppState) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let own = origin
        .split_once("://")
        .map(|(_, authority)| authority)
        .zip(
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok()),
        )
        .is_some_and(|(authority, host)| authority.eq_ignore_ascii_case(host));
    own || state.config.cors_origins.allows(origin)
}

/// Whether `Accept` (when sent) admits `application/json`.
fn accepts_json(req: &HttpRequest) -> bool {
    let Some(accept) = req.headers().get(header::ACCEPT) else {
        return true;
    };
    let Ok(accept) = accept.to_str() else {
        return false;
    };
    accept.split(',').any(|range| {
        let media = range
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        matches!(media.as_str(), "application/json" | "application/*" | "*/*")
    })
}

fn versions() -> String {
    SUPPORTED_VERSIONS
        .iter()
        .map(ProtocolVersion::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A JSON-RPC error with no answerable request, with `status`.
fn rpc_failure(status: StatusCode, id: Option<RequestId>, error: ErrorData) -> HttpResponse {
    rpc_json(status, &ServerJsonRpcMessage::error(error, id))
}

fn rpc_json(status: StatusCode, message: &ServerJsonRpcMessage) -> HttpResponse {
    match serde_json::to_vec(message) {
        Ok(body) => json_response(status, body),
        Err(e) => actix_web::ResponseError::error_response(&AppError::internal(&e)),
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(header::ContentType::json())
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolResult, ContentBlock, NumberOrString};

    /// JSON text is written as the string serde_json writes, whatever it holds: escapes,
    /// quotes, non-ASCII, raw whitespace between tokens (serde_json's way), nothing at all.
    #[test]
    fn json_text_is_written_as_serde_json_writes_the_string() {
        let page = serde_json::to_string(&serde_json::json!({
            "items": [{"title": "\"q\" \\ </script> é 🎉\n\t\u{1}\u{2028}\u{7f}", "n": 1.5}],
            "empty": "",
            "cursor": null,
        }))
        .unwrap();
        for text in [
            page.as_str(),
            "",
            "\"",
            "\\",
            "{\"a\":\"\\\\\\\"\"}",
            "plain text, no quotes",
            "{ \"spaced\" :\n\t[1, 2] }",
            "\u{1}",
            "ends with a quote\"",
        ] {
            let mut ours = Vec::new();
            write_json_as_string(&mut ours, text.as_bytes()).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
    }

    /// The message written around a tool's output is the one `rmcp::model` writes for the
    /// same result (which the earlier code sent): same members, same values.
    #[test]
    fn a_tool_output_message_is_what_rmcp_would_write() {
        let output = serde_json::to_string(&serde_json::json!({
            "items": [{"title": "\"q\" \\ </script> é 🎉\n\t\u{1}\u{2028}", "tags": ["a"]}],
            "next_cursor": null,
            "has_more": false,
            "limit": 20,
        }))
        .unwrap();
        for id in [
            NumberOrString::Number(7),
            NumberOrString::String("a\"b".into()),
        ] {
            let written = tool_output_message(&id, output.as_bytes()).unwrap();
            let mut result = CallToolResult::success(vec![ContentBlock::text(output.clone())]);
            result.structured_content = Some(serde_json::from_str(&output).unwrap());
            let mut result = ServerResult::CallToolResult(result);
            result.strip_result_type_for_legacy_peer();
            let expected =
                serde_json::to_value(ServerJsonRpcMessage::response(result, id)).unwrap();
            let got: Value = serde_json::from_slice(&written).unwrap();
            assert_eq!(got, expected);
        }
    }
}
