//! The OpenAPI 3.1 description, generated from the route table and the
//! JSON Schemas (2020-12, as OpenAPI 3.1 uses) of the bodies.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::error::Problem;
use super::{Access, Body, RouteSpec};
use crate::consent::Purpose;
use crate::documents::DocumentType;
use crate::notices::NoticeKind;

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
            // 204 No Content carries no body, so it declares none.
            _ if spec.status == 204 => json!({ "description": "Success, no content." }),
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
            .map(|(name, location, required)| json!({ "name": name, "in": location, "required": required, "schema": parameter_schema(name) }))
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
    link_created_cases(&mut paths, specs);
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

/// OpenAPI links from the case a `POST /v1/cases` creates (its `id`) to
/// every operation on a case, so a client (or a generator of requests)
/// knows where the `{case}` of those comes from.
fn link_created_cases(paths: &mut Map<String, Value>, specs: &[RouteSpec]) {
    let links: Map<String, Value> = specs
        .iter()
        .filter(|spec| path_parameters(spec.path).any(|name| name == "case"))
        .map(|spec| {
            (
                spec.operation_id.to_owned(),
                json!({
                    "operationId": spec.operation_id,
                    "parameters": { "case": "$response.body#/id" },
                }),
            )
        })
        .collect();
    if let Some(created) = paths
        .get_mut("/v1/cases")
        .and_then(|item| item.get_mut("post"))
        .and_then(|operation| operation["responses"].get_mut("201"))
    {
        created["links"] = Value::Object(links);
    }
}

/// What a path, query or header parameter of the given name accepts, as
/// its handler checks it: ids by their shape, closed vocabularies by their
/// values, tree positions as whole numbers.
fn parameter_schema(name: &str) -> Value {
    let random_id =
        |prefix: &str| json!({ "type": "string", "pattern": format!("^{prefix}[a-z2-7]{{26}}$") });
    let one_of = |values: Vec<&str>| json!({ "type": "string", "enum": values });
    match name {
        "case" => random_id("case-"),
        "document" => random_id("doc-"),
        "consent" => random_id("cons-"),
        "notice" => random_id("ntc-"),
        "subject" => json!({ "type": "string", "pattern": SUBJECT, "maxLength": 64 }),
        "subjects" => json!({
            "type": "string",
            "description": "Data-subject ids, separated by commas.",
            "pattern": format!("^{0}(,{0})*$", SUBJECT.trim_start_matches('^').trim_end_matches('$')),
        }),
        "party" => json!({
            "type": "string",
            "pattern": "^[a-z][a-z0-9-]*[a-z0-9]$",
            "minLength": 2,
            "maxLength": 64,
        }),
        "purpose" => one_of(Purpose::ALL.iter().map(|p| p.as_str()).collect()),
        "document_type" => one_of(DocumentType::ALL.iter().map(|t| t.as_str()).collect()),
        "kind" => one_of(NoticeKind::ALL.iter().map(|k| k.as_str()).collect()),
        "size" | "index" | "from" | "to" => json!({ "type": "integer", "minimum": 0 }),
        "limit" => json!({ "type": "integer", "minimum": 1, "maximum": crate::notices::MAX_PAGE }),
        _ => json!({ "type": "string" }),
    }
}

/// Schemas of request fields the handlers check beyond their JSON type
/// (`#[schemars(schema_with = …)]`), so the description says what is taken.
pub(super) mod fields {
    use schemars::{json_schema, Schema, SchemaGenerator};
    use serde_json::json;

    use super::{parameter_schema, SUBJECT};
    use crate::consent::{ConsentState, Relation};

    fn from(value: serde_json::Value) -> Schema {
        Schema::try_from(value).unwrap_or_default()
    }

    pub fn country(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "ISO 3166-1 alpha-2 (e.g. `AL`).",
            "enum": crate::cases::ISO_3166_ALPHA2.as_slice(),
        })
    }

    pub fn party(_: &mut SchemaGenerator) -> Schema {
        from(parameter_schema("party"))
    }

    pub fn purpose(_: &mut SchemaGenerator) -> Schema {
        from(parameter_schema("purpose"))
    }

    pub fn subject(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": SUBJECT, "maxLength": 64 })
    }

    pub fn relation(_: &mut SchemaGenerator) -> Schema {
        let values: Vec<&str> = Relation::ALL.iter().map(|r| r.as_str()).collect();
        json_schema!({ "type": "string", "enum": values })
    }

    /// The states a consent may be moved to by a party.
    pub fn consent_change(_: &mut SchemaGenerator) -> Schema {
        let values: Vec<&str> = [
            ConsentState::Withdrawn,
            ConsentState::Revoked,
            ConsentState::Invalidated,
        ]
        .iter()
        .map(|s| s.as_str())
        .collect();
        json_schema!({ "type": "string", "enum": values })
    }

    pub fn hold_reason(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "\\S", "maxLength": 500 })
    }

    pub fn webhook_url(_: &mut SchemaGenerator) -> Schema {
        // An IRI: an internationalized host is taken, in its ASCII form.
        json_schema!({
            "type": "string",
            "format": "iri",
            "pattern": "^(https://|http://(localhost|127\\.[0-9.]+|\\[::1\\])([:/]|$))",
            "description": "`https://…` (or `http://` to a loopback address).",
        })
    }

    /// A recipient entry of a general JSON JWE.
    pub fn recipient_entry(_: &mut SchemaGenerator) -> Schema {
        let b64url = json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]+$" });
        json_schema!({
            "type": "object",
            "properties": {
                "header": { "type": "object" },
                "encrypted_key": b64url,
            },
            "required": ["encrypted_key"],
        })
    }
}

/// A data-subject id (`subj-`, then lowercase letters, digits and hyphens).
const SUBJECT: &str = "^subj-[a-z0-9-]+$";

/// The `{name}` segments of a path.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}
