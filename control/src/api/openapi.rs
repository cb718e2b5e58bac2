//! `GET /openapi.json`: the Server API described as OpenAPI 3.1. `control/tests/server_api.rs` checks
//! that every documented operation exists and that every status the tests see is documented.

use axum::Json;
use serde_json::{json, Value};

pub async fn document() -> Json<Value> {
    Json(spec())
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The codes every authenticated operation can answer besides its own.
fn common(mut responses: serde_json::Map<String, Value>) -> Value {
    responses.insert("401".into(), error_response("No credentials"));
    responses.insert("403".into(), error_response("Invalid credentials"));
    responses.insert(
        "429".into(),
        json!({
            "description": "More than 4 requests per second with this credential",
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        }),
    );
    responses.insert("500".into(), error_response("Server fault"));
    Value::Object(responses)
}

fn responses(pairs: Vec<(&str, Value)>) -> serde_json::Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn room_param() -> Value {
    json!({"name": "roomId", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"}})
}

/// In a cluster, a room's requests go to its host (`crate::cluster::forward`).
fn room_host_silent() -> Value {
    error_response("In a cluster: the room's host does not answer; retry after Retry-After seconds")
}

fn host_param() -> Value {
    json!({"name": "hostId", "in": "path", "required": true, "schema": {"type": "string"}})
}

fn host_drain() -> Value {
    json!({"type": "object", "properties": {"hostId": {"type": "string"}, "draining": {"type": "boolean"}}})
}

fn peer_body() -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {
        "type": "object", "required": ["peerId"], "properties": {"peerId": {"type": "string"}}
    }}}})
}

fn stats_params() -> Value {
    json!([
        {"name": "room_id", "in": "query", "required": true, "schema": {"type": "string"}},
        {"name": "from", "in": "query", "required": false, "description": "RFC 3339 date-time or UNIX seconds; default: the beginning",
         "schema": {"type": "string", "examples": ["2021-06-21T00:00:00.0Z"]}},
        {"name": "to", "in": "query", "required": false, "description": "RFC 3339 date-time or UNIX seconds; default: now",
         "schema": {"type": "string", "examples": ["2021-06-22T23:59:59.99Z"]}}
    ])
}

fn stats_responses(data: Value) -> Value {
    let envelope = json!({"type": "object", "required": ["data", "errors"], "properties": {"data": data, "errors": {"type": "array", "items": {"type": "string"}}}});
    common(responses(vec![
        ("200", ok("Statistics", envelope)),
        ("400", error_response("Bad room_id, from or to")),
        ("404", error_response("No data for this room in this period")),
    ]))
}

pub fn spec() -> Value {
    let bad_room = || {
        error_response("Room or peer not found, or malformed request (the documented health check relies on 400 for an unknown room)")
    };
    let too_large = || error_response("Request body larger than 16 KiB");
    json!({
        "openapi": "3.1.0",
        "info": {"title": "meet Server API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Rooms, authentication, API tokens and statistics of a meet-control server. See docs/server-api.md."},
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": {
            "/rooms": {"get": {
                "operationId": "listRooms", "summary": "Live rooms",
                "responses": common(responses(vec![("200", ok("Live rooms", json!({"type": "array", "items": {"$ref": "#/components/schemas/RoomSummary"}})))]))
            }},
            "/rooms/{roomId}/closePeer": {"post": {
                "operationId": "closePeer", "summary": "Remove a participant from a room",
                "parameters": [room_param()], "requestBody": peer_body(),
                "responses": common(responses(vec![
                    ("200", ok("Removed", json!({"type": "object", "properties": {"roomId": {"type": "string"}, "peerId": {"type": "string"}, "closed": {"type": "boolean"}}}))),
                    ("400", bad_room()), ("503", room_host_silent()), ("413", too_large()),
                ]))
            }},
            "/rooms/{roomId}/durationOfBroadcast": {"get": {
                "operationId": "durationOfBroadcast", "summary": "How long the room has existed",
                "parameters": [room_param()],
                "responses": common(responses(vec![
                    ("200", ok("Age", json!({"type": "object", "properties": {"roomId": {"type": "string"}, "durationOfBroadcast": {"type": "integer", "description": "seconds"}, "startTime": {"type": "integer", "description": "UNIX seconds"}}}))),
                    ("400", bad_room()), ("503", room_host_silent()),
                ]))
            }},
            "/rooms/{roomId}/closeRoom": {"get": {
                "operationId": "closeRoom", "summary": "Remove every participant; the room closes",
                "parameters": [room_param()],
                "responses": common(responses(vec![
                    ("200", ok("Closed", json!({"type": "object", "properties": {"roomId": {"type": "string"}, "closed": {"type": "boolean"}, "closedPeers": {"type": "integer"}}}))),
                    ("400", bad_room()), ("503", room_host_silent()),
                ]))
            }},
            "/rooms/{roomId}/numberPeers": {"get": {
                "operationId": "numberPeers", "summary": "Number of participants",
                "parameters": [room_param()],
                "responses": common(responses(vec![
                    ("200", ok("Count", json!({"type": "object", "properties": {"roomId": {"type": "string"}, "numberPeers": {"type": "integer"}}}))),
                    ("400", bad_room()), ("503", room_host_silent()),
                ]))
            }},
            "/rooms/{roomId}/existingPeer": {"post": {
                "operationId": "existingPeer", "summary": "Whether a participant is in the room (400 when not)",
                "parameters": [room_param()], "requestBody": peer_body(),
                "responses": common(responses(vec![
                    ("200", ok("Present", json!({"type": "object", "properties": {"roomId": {"type": "string"}, "peerId": {"type": "string"}, "exists": {"type": "boolean"}}}))),
                    ("400", bad_room()), ("503", room_host_silent()), ("413", too_large()),
                ]))
            }},
            "/auth/jwt/login": {"post": {
                "operationId": "login", "summary": "Log in as a configured user", "security": [],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["username", "password"],
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}}},
                "responses": {
                    "200": ok("Tokens", json!({"$ref": "#/components/schemas/Tokens"})),
                    "400": error_response("Malformed request"),
                    "401": error_response("Wrong user name or password"),
                    "413": too_large(),
                    "429": error_response("More than 4 attempts per second from this address or for this account"),
                    "500": error_response("Server fault"),
                    "503": error_response("Too many password checks in progress; retry after Retry-After seconds")
                }
            }},
            "/auth/jwt/refresh": {"post": {
                "operationId": "refresh", "summary": "New tokens for a refresh token", "security": [],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["refresh"], "properties": {"refresh": {"type": "string"}}}}}},
                "responses": {
                    "200": ok("Tokens", json!({"$ref": "#/components/schemas/Tokens"})),
                    "400": error_response("Malformed request"),
                    "401": error_response("Invalid or expired refresh token"),
                    "413": too_large(),
                    "429": error_response("Too many failed refreshes from this address"),
                    "500": error_response("Server fault")
                }
            }},
            "/api-tokens": {
                "get": {
                    "operationId": "listApiTokens", "summary": "Permanent API tokens (never their secrets); needs a user's access token",
                    "security": [{"bearer": []}],
                    "responses": common(responses(vec![("200", ok("Tokens", json!({"type": "array", "items": {"$ref": "#/components/schemas/ApiToken"}})))]))
                },
                "post": {
                    "operationId": "createApiToken", "summary": "Create a permanent API token; its secret is in this answer only",
                    "security": [{"bearer": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["name"], "properties": {"name": {"type": "string", "maxLength": 100}}}}}},
                    "responses": common(responses(vec![
                        ("201", ok("Created", json!({"allOf": [{"$ref": "#/components/schemas/ApiToken"}, {"type": "object", "properties": {"token": {"type": "string"}}}]}))),
                        ("400", error_response("Malformed request")), ("413", too_large()),
                    ]))
                }
            },
            "/hosts": {"get": {
                "operationId": "listHosts", "summary": "The hosts of a cluster (extension; 404 without [cluster] url)",
                "security": [{"bearer": []}, {"apiKey": []}],
                "responses": common(responses(vec![
                    ("200", ok("Hosts", json!({"type": "array", "items": {"$ref": "#/components/schemas/Host"}}))),
                    ("404", error_response("This server is not part of a cluster")),
                ]))
            }},
            "/hosts/{hostId}/drain": {"post": {
                "operationId": "drainHost", "summary": "The host takes no new rooms and reports not ready; its rooms go on (extension)",
                "security": [{"bearer": []}, {"apiKey": []}],
                "parameters": [host_param()],
                "responses": common(responses(vec![
                    ("200", ok("Draining", host_drain())),
                    ("404", error_response("No such host, or no cluster")),
                ]))
            }},
            "/hosts/{hostId}/undrain": {"post": {
                "operationId": "undrainHost", "summary": "The host takes new rooms again (extension)",
                "security": [{"bearer": []}, {"apiKey": []}],
                "parameters": [host_param()],
                "responses": common(responses(vec![
                    ("200", ok("Taking rooms", host_drain())),
                    ("404", error_response("No such host, or no cluster")),
                ]))
            }},
            "/api-tokens/{id}": {"delete": {
                "operationId": "revokeApiToken", "summary": "Revoke a permanent API token", "security": [{"bearer": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": common(responses(vec![
                    ("200", ok("Revoked", json!({"type": "object", "properties": {"id": {"type": "integer"}, "revoked": {"type": "boolean"}}}))),
                    ("400", error_response("The ID is not a number")),
                    ("404", error_response("No active token with this ID")),
                ]))
            }},
            "/streaming/statistics/peers/summary": {"get": {
                "operationId": "statisticsSummary", "summary": "A room's participants and active span in a period",
                "parameters": stats_params(),
                "responses": stats_responses(json!({"$ref": "#/components/schemas/Summary"}))
            }},
            "/streaming/statistics/peers": {"get": {
                "operationId": "statisticsPeers", "summary": "Each participant session of a room in a period",
                "parameters": stats_params(),
                "responses": stats_responses(json!({"type": "array", "items": {"$ref": "#/components/schemas/Session"}}))
            }},
            "/streaming/videos/search": {"get": {
                "operationId": "searchVideos", "summary": "Recorded videos whose name contains q (a room ID), newest first",
                "parameters": [{"name": "q", "in": "query", "required": false, "schema": {"type": "string", "maxLength": 256}}],
                "responses": common(responses(vec![
                    ("200", ok("The videos", json!({"type": "array", "items": {"$ref": "#/components/schemas/Video"}}))),
                    ("400", error_response("q is too long")),
                    ("404", error_response("Recording is not enabled on this server")),
                ]))
            }},
            "/streaming/videos/{id}": {"get": {
                "operationId": "getVideo", "summary": "One recorded video's metadata",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": common(responses(vec![
                    ("200", ok("The video", json!({"$ref": "#/components/schemas/Video"}))),
                    ("404", error_response("No such video (or recording is not enabled)")),
                ]))
            }},
            "/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}
            }}
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An access token from /auth/jwt/login, or a permanent API token"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "APIKey <token>"}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}},
                "Host": {"type": "object", "properties": {
                    "hostId": {"type": "string"}, "url": {"type": "string"}, "capacity": {"type": "integer"},
                    "load": {"type": "integer", "description": "Participants on the host"},
                    "draining": {"type": "boolean"}, "alive": {"type": "boolean", "description": "Heard of within [cluster] host_timeout_seconds"},
                    "lastSeen": {"type": "integer", "description": "UNIX seconds"}, "self": {"type": "boolean", "description": "The host that answered"}}},
                "Tokens": {"type": "object", "required": ["access", "refresh"], "properties": {"access": {"type": "string"}, "refresh": {"type": "string"}}},
                "ApiToken": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "name": {"type": "string"}, "createdBy": {"type": "string"},
                    "createdAt": {"type": "integer"}, "revokedAt": {"type": ["integer", "null"]}}},
                "RoomSummary": {"type": "object", "properties": {
                    "roomId": {"type": "string"}, "numberPeers": {"type": "integer"}, "durationOfBroadcast": {"type": "integer"}}},
                "Summary": {"type": "object", "properties": {
                    "participants": {"type": "integer"}, "start_time": {"type": "integer"}, "end_time": {"type": "integer"}, "duration": {"type": "integer"}}},
                "Video": {"type": "object", "description": "docs/recording.md", "properties": {
                    "id": {"type": "integer"}, "name": {"type": "string"}, "room_id": {"type": "string"},
                    "status": {"type": "string", "enum": ["processing", "ready", "error"]},
                    "duration": {"type": "integer", "description": "ms"}, "progress": {"type": "integer"},
                    "error": {"type": ["string", "null"]},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
                    "hls_url": {"type": ["string", "null"]}, "origin_host": {"type": ["string", "null"]},
                    "origin_resource": {"type": ["string", "null"]}, "player_url": {"type": ["string", "null"]}}},
                "Session": {"type": "object", "properties": {
                    "person_id": {"type": "string"}, "join_time": {"type": "integer"}, "leave_time": {"type": "integer"}, "duration": {"type": "integer"}}}
            }
        }
    })
}

/// The documented status codes of `method` on the documented `path` template.
pub fn documented_statuses(path: &str, method: &str) -> Option<Vec<u16>> {
    let spec = spec();
    let responses = spec["paths"].get(path)?.get(method.to_ascii_lowercase())?.get("responses")?.as_object()?.clone();
    Some(responses.keys().filter_map(|k| k.parse().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_an_id_and_responses() {
        let spec = spec();
        for (path, ops) in spec["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                assert!(op["operationId"].is_string(), "{method} {path}");
                assert!(op["responses"]["200"].is_object() || op["responses"]["201"].is_object(), "{method} {path}");
            }
        }
        assert_eq!(
            documented_statuses("/rooms/{roomId}/numberPeers", "GET").map(|mut v| {
                v.sort();
                v
            }),
            Some(vec![200, 400, 401, 403, 429, 500, 503])
        );
    }
}
