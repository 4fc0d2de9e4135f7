//! The OpenAPI 3.1 description, generated from the route table and the
//! JSON Schemas (2020-12, as OpenAPI 3.1 uses) of the bodies.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::error::Problem;
use super::{Access, Body, RouteSpec};

/// The document for the given routes.
pub fn document(specs: &[RouteSpec]) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let problem = generator.subschema_for::<Problem>();
    let mut paths = Map::new();
    for spec in specs {
        let mut operation = json!({
            "operationId": spec.operation_id,
            "summary": spec.summary,
            "tags": [if spec.access == Access::Public { "operations" } else { "party" }],
            "x-ponte-action": spec.action.name(),
            "responses": {
                "default": {
                    "description": "An RFC 9457 problem with a stable `code`.",
                    "content": { "application/problem+json": { "schema": problem } },
                },
            },
        });
        let success = match spec.response {
            Body::Json(schema) => json!({
                "description": "Success.",
                "content": { "application/json": { "schema": schema(&mut generator) } },
            }),
            Body::Text(media) => json!({
                "description": "Success.",
                "content": { media: { "schema": { "type": "string" } } },
            }),
            Body::Stream(media) => json!({
                "description": "Success, streamed.",
                "content": { media: { "schema": {} } },
            }),
        };
        operation["responses"][spec.status.to_string()] = success;
        if let Some(request) = spec.request {
            operation["requestBody"] = json!({
                "required": true,
                "content": { spec.request_media: { "schema": request(&mut generator) } },
            });
        }
        let parameters: Vec<Value> = path_parameters(spec.path)
            .map(|name| (name, "path", true))
            .chain(spec.query.iter().map(|name| (*name, "query", true)))
            .chain(spec.optional_query.iter().map(|name| (*name, "query", false)))
            .chain(spec.headers.iter().map(|name| (*name, "header", true)))
            .map(|(name, location, required)| json!({ "name": name, "in": location, "required": required, "schema": { "type": "string" } }))
            .collect();
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        operation["security"] = match spec.access {
            Access::Public | Access::ConsentCode => json!([]),
            Access::Party => json!([{ "partyCertificate": [] }]),
        };
        let item = paths.entry(spec.path).or_insert_with(|| json!({}));
        item[spec.method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ponte",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Secure document-exchange and consent broker for the family tracing of unaccompanied migrant children.",
        },
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {
                "partyCertificate": {
                    "type": "mutualTLS",
                    "description": "A TLS client certificate registered to a party in the directory.",
                },
            },
        },
    })
}

/// The `{name}` segments of a path.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}
