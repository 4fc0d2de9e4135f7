//! The Cedar engine: loading and validating the policy folder, turning
//! parties and cases into Cedar entities, and deciding.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId,
    EntityTypeName, EntityUid, PolicyId, PolicySet, Request, RestrictedExpression, Schema,
    ValidationMode, Validator,
};

use super::{Action, PolicyError};
use crate::cases::CaseFacts;
use crate::consent::ConsentRecord;
use crate::parties::Party;
use crate::pki::hex;

/// What a request is about.
#[derive(Debug, Clone)]
pub enum Resource<'a> {
    Broker,
    Party(&'a Party),
    Case(&'a CaseFacts),
    Document(&'a DocumentFacts),
    Consent {
        record: &'a ConsentRecord,
        case: &'a CaseFacts,
    },
}

/// What the policy sees of a document.
#[derive(Debug, Clone)]
pub struct DocumentFacts {
    pub id: String,
    pub case: CaseFacts,
    pub document_type: String,
    pub purpose: String,
    pub author: String,
}

impl Resource<'_> {
    /// How the resource is named in audit events.
    pub fn audit_id(&self) -> String {
        match self {
            Resource::Broker => "broker".into(),
            Resource::Party(p) => format!("party:{}", p.id),
            Resource::Case(c) => format!("case:{}", c.id),
            Resource::Document(d) => format!("document:{}", d.id),
            Resource::Consent { record, .. } => format!("consent:{}", record.id),
        }
    }
}

/// The outcome of one policy evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The policies that decided: the permits that allowed, or the forbids
    /// that refused (empty when nothing permitted).
    pub policy_ids: Vec<String>,
    /// Evaluation errors (a policy that errs is skipped, as Cedar specifies).
    pub errors: Vec<String>,
    /// On a denial, the `@problem("…")` annotations of the forbids that
    /// refused: what the answer should name (`consent`, `purpose`).
    pub problems: Vec<String>,
}

/// A validated policy set with its schema.
#[derive(Debug)]
pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    /// For each action, the policies whose scope can take it in: Cedar
    /// would pass over the others at their scope, but only after looking at
    /// each of them on every request.
    by_action: HashMap<String, PolicySet>,
    version: String,
    actions: HashSet<String>,
}

impl PolicyEngine {
    /// Loads `schema.cedarschema` and every `*.cedar` file of `dir`, and
    /// validates the policies against the schema (strict mode). Every policy
    /// must carry a unique `@id("…")` annotation.
    pub fn load(dir: &Path) -> Result<PolicyEngine, PolicyError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| PolicyError::Load(format!("{}: {e}", path.display())))
        };
        let schema_text = read(&dir.join("schema.cedarschema"))?;
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| PolicyError::Load(format!("{}: {e}", dir.display())))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "cedar"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(PolicyError::Load(format!(
                "no *.cedar policy in {}",
                dir.display()
            )));
        }
        let mut sources = Vec::new();
        for path in &files {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            sources.push((name, read(path)?));
        }
        PolicyEngine::from_sources(&schema_text, &sources)
    }

    /// Builds an engine from schema text and `(file name, policy text)` pairs.
    pub fn from_sources(
        schema_text: &str,
        sources: &[(String, String)],
    ) -> Result<PolicyEngine, PolicyError> {
        let (schema, _warnings) = Schema::from_cedarschema_str(schema_text)
            .map_err(|e| PolicyError::Invalid(format!("schema.cedarschema: {e}")))?;
        let mut policies = PolicySet::new();
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        digest.update(schema_text.as_bytes());
        for (name, text) in sources {
            digest.update(name.as_bytes());
            digest.update(text.as_bytes());
            let parsed = PolicySet::from_str(text)
                .map_err(|e| PolicyError::Invalid(format!("{name}: {e}")))?;
            if parsed.templates().next().is_some() {
                return Err(PolicyError::Invalid(format!(
                    "{name}: templates are not used by Ponte"
                )));
            }
            for policy in parsed.policies() {
                let id = policy.annotation("id").ok_or_else(|| {
                    PolicyError::Invalid(format!(
                        "{name}: a policy has no @id(\"…\") annotation:\n{policy}"
                    ))
                })?;
                policies
                    .add(policy.new_id(PolicyId::new(id)))
                    .map_err(|e| PolicyError::Invalid(format!("{name}: policy {id:?}: {e}")))?;
            }
        }
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !result.validation_passed() {
            let messages: Vec<String> = result
                .validation_errors()
                .map(|e| format!("  - {e}"))
                .collect();
            return Err(PolicyError::Invalid(messages.join("\n")));
        }
        let actions = schema
            .actions()
            .map(|uid| uid.id().unescaped().to_owned())
            .collect();
        let version = format!("sha256:{}", &hex(digest.finish().as_ref())[..16]);
        let groups: HashSet<&EntityUid> = schema.action_groups().collect();
        let mut by_action = HashMap::new();
        for action in schema.actions() {
            let mut set = PolicySet::new();
            for policy in policies.policies() {
                let applies = match policy.action_constraint() {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(one) => one == *action,
                    // A scope naming an action group keeps the policy for
                    // every action: group membership is not resolved here.
                    ActionConstraint::In(list) => list
                        .iter()
                        .any(|named| named == action || groups.contains(named)),
                };
                if applies {
                    set.add(policy.clone())
                        .map_err(|e| PolicyError::Invalid(e.to_string()))?;
                }
            }
            by_action.insert(action.id().unescaped().to_owned(), set);
        }
        Ok(PolicyEngine {
            schema,
            policies,
            by_action,
            version,
            actions,
        })
    }

    /// The policy-set version recorded in every audit event.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether the schema declares the action.
    pub fn has_action(&self, action: Action) -> bool {
        self.actions.contains(action.name())
    }

    /// Evaluates the policies for one request of a party.
    pub fn decide(
        &self,
        principal: &Party,
        action: Action,
        resource: &Resource<'_>,
        context: serde_json::Value,
    ) -> Result<Decision, PolicyError> {
        let mut decisions = self.decide_each(&[(principal, context)], action, resource)?;
        Ok(decisions.remove(0))
    }

    /// Evaluates the policies for the same action on the same resource by
    /// several parties, each with its own context (a recipient plan asks
    /// this of every member of a case). The entities are built once.
    pub fn decide_each(
        &self,
        requests: &[(&Party, serde_json::Value)],
        action: Action,
        resource: &Resource<'_>,
    ) -> Result<Vec<Decision>, PolicyError> {
        let mut entities = Vec::with_capacity(requests.len() + 2);
        for (i, (party, _)) in requests.iter().enumerate() {
            // Each entity once: the resource adds its own.
            let seen = requests[..i].iter().any(|(p, _)| p.id == party.id);
            let is_resource = matches!(resource, Resource::Party(p) if p.id == party.id);
            if !seen && !is_resource {
                entities.push(party_entity(party)?);
            }
        }
        let (entities, resource_uid) = self.entities(entities, resource)?;
        requests
            .iter()
            .map(|(party, context)| {
                self.evaluate(
                    &entities,
                    uid("Party", party.id.as_str()),
                    action,
                    resource_uid.clone(),
                    context.clone(),
                )
            })
            .collect()
    }

    /// Evaluates the policies for one request of an unauthenticated caller.
    pub fn decide_anonymous(
        &self,
        action: Action,
        resource: &Resource<'_>,
        context: serde_json::Value,
    ) -> Result<Decision, PolicyError> {
        let (entities, resource_uid) = self.entities(Vec::new(), resource)?;
        self.evaluate(
            &entities,
            uid("Anonymous", "anonymous"),
            action,
            resource_uid,
            context,
        )
    }

    /// The entity set of a request: the given entities and the resource's,
    /// checked against the schema; and the resource's uid.
    fn entities(
        &self,
        mut entities: Vec<Entity>,
        resource: &Resource<'_>,
    ) -> Result<(Entities, EntityUid), PolicyError> {
        let bad = |e: &dyn std::fmt::Display| PolicyError::Request(e.to_string());
        let resource_uid = match resource {
            Resource::Broker => uid("Broker", "ponte"),
            Resource::Party(party) => {
                entities.push(party_entity(party)?);
                uid("Party", party.id.as_str())
            }
            Resource::Case(case) => {
                entities.push(case_entity(case)?);
                uid("Case", case.id.as_str())
            }
            Resource::Document(document) => {
                entities.push(case_entity(&document.case)?);
                entities.push(entity(
                    uid("Document", &document.id),
                    [
                        ("case", entity_ref("Case", document.case.id.as_str())),
                        ("document_type", text(&document.document_type)),
                        ("purpose", text(&document.purpose)),
                        ("author", entity_ref("Party", &document.author)),
                    ],
                    [],
                )?);
                uid("Document", &document.id)
            }
            Resource::Consent { record, case } => {
                entities.push(case_entity(case)?);
                entities.push(entity(
                    uid("Consent", record.id.as_str()),
                    [
                        ("case", entity_ref("Case", case.id.as_str())),
                        ("subject", text(record.subject.as_str())),
                        ("collector", entity_ref("Party", record.collector.as_str())),
                        ("state", text(record.state.as_str())),
                    ],
                    [],
                )?);
                uid("Consent", record.id.as_str())
            }
        };
        let entities =
            Entities::from_entities(entities, Some(&self.schema)).map_err(|e| bad(&e))?;
        Ok((entities, resource_uid))
    }

    fn evaluate(
        &self,
        entities: &Entities,
        principal: EntityUid,
        action: Action,
        resource_uid: EntityUid,
        context: serde_json::Value,
    ) -> Result<Decision, PolicyError> {
        let bad = |e: &dyn std::fmt::Display| PolicyError::Request(e.to_string());
        let action_uid = uid("Action", action.name());
        let serde_json::Value::Object(fields) = context else {
            return Err(PolicyError::Request("the context is not an object".into()));
        };
        let pairs = fields
            .into_iter()
            .map(|(name, value)| Ok((name, restricted(value)?)))
            .collect::<Result<Vec<_>, PolicyError>>()?;
        // The request is checked against the schema below, context included.
        let context = Context::from_pairs(pairs).map_err(|e| bad(&e))?;
        let request = Request::new(
            principal,
            action_uid,
            resource_uid,
            context,
            Some(&self.schema),
        )
        .map_err(|e| bad(&e))?;
        let policies = self.by_action.get(action.name()).unwrap_or(&self.policies);
        let response = Authorizer::new().is_authorized(&request, policies, entities);
        let mut policy_ids: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| id.to_string())
            .collect();
        policy_ids.sort();
        let allowed = response.decision() == CedarDecision::Allow;
        let problems = if allowed {
            Vec::new()
        } else {
            policy_ids
                .iter()
                .filter_map(|id| self.policies.policy(&PolicyId::new(id)))
                .filter_map(|p| p.annotation("problem").map(str::to_owned))
                .collect()
        };
        Ok(Decision {
            allowed,
            policy_ids,
            errors: response
                .diagnostics()
                .errors()
                .map(|e| e.to_string())
                .collect(),
            problems,
        })
    }

    /// The text of a policy, for explanations.
    pub fn policy_text(&self, id: &str) -> Option<String> {
        self.policies
            .policy(&PolicyId::new(id))
            .map(|p| p.to_string())
    }
}

/// The entity types requests name, parsed once.
static TYPES: LazyLock<HashMap<&'static str, EntityTypeName>> = LazyLock::new(|| {
    [
        "Party",
        "Role",
        "Case",
        "Document",
        "Consent",
        "Broker",
        "Anonymous",
        "Action",
    ]
    .into_iter()
    .map(|kind| {
        let name = EntityTypeName::from_str(&format!("Ponte::{kind}"))
            .unwrap_or_else(|_| unreachable!("a namespaced type name parses"));
        (kind, name)
    })
    .collect()
});

fn uid(kind: &str, id: &str) -> EntityUid {
    match TYPES.get(kind) {
        Some(name) => EntityUid::from_type_name_and_id(name.clone(), EntityId::new(id)),
        None => unreachable!("entity type {kind} is in TYPES"),
    }
}

fn text(value: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(value.to_owned())
}

fn entity_ref(kind: &str, id: &str) -> RestrictedExpression {
    RestrictedExpression::new_entity_uid(uid(kind, id))
}

/// An entity built directly (parsing entities from JSON cost more than the
/// decision itself); the schema checks it when the entity set is built.
fn entity<const N: usize, const P: usize>(
    uid: EntityUid,
    attrs: [(&str, RestrictedExpression); N],
    parents: [EntityUid; P],
) -> Result<Entity, PolicyError> {
    Entity::new(
        uid,
        attrs
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect::<HashMap<_, _>>(),
        parents.into_iter().collect(),
    )
    .map_err(|e| PolicyError::Request(e.to_string()))
}

/// A context value as a Cedar value: strings, booleans, integers, sets,
/// records, and `{"__entity": {"type", "id"}}` references.
fn restricted(value: serde_json::Value) -> Result<RestrictedExpression, PolicyError> {
    use serde_json::Value;
    let unsupported = |what: &str| PolicyError::Request(format!("a context value is {what}"));
    Ok(match value {
        Value::String(s) => RestrictedExpression::new_string(s),
        Value::Bool(b) => RestrictedExpression::new_bool(b),
        Value::Number(n) => {
            RestrictedExpression::new_long(n.as_i64().ok_or_else(|| unsupported("not an integer"))?)
        }
        Value::Array(items) => RestrictedExpression::new_set(
            items
                .into_iter()
                .map(restricted)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Value::Object(mut fields) => match fields.remove("__entity") {
            Some(reference) if fields.is_empty() => {
                let reference = EntityUid::from_json(reference)
                    .map_err(|e| PolicyError::Request(e.to_string()))?;
                RestrictedExpression::new_entity_uid(reference)
            }
            Some(_) => return Err(unsupported("an entity reference with other fields")),
            None => RestrictedExpression::new_record(
                fields
                    .into_iter()
                    .map(|(name, value)| Ok((name, restricted(value)?)))
                    .collect::<Result<Vec<_>, PolicyError>>()?,
            )
            .map_err(|e| PolicyError::Request(e.to_string()))?,
        },
        Value::Null => return Err(unsupported("null")),
    })
}

fn case_entity(case: &CaseFacts) -> Result<Entity, PolicyError> {
    entity(
        uid("Case", case.id.as_str()),
        [
            ("country", text(case.country.as_str())),
            ("state", text(case.state.as_str())),
            ("opened_by", entity_ref("Party", case.opened_by.as_str())),
            (
                "members",
                RestrictedExpression::new_set(
                    case.members.iter().map(|m| entity_ref("Party", m.as_str())),
                ),
            ),
        ],
        [],
    )
}

fn party_entity(party: &Party) -> Result<Entity, PolicyError> {
    entity(
        uid("Party", party.id.as_str()),
        [
            ("role", text(party.role.as_str())),
            ("active", RestrictedExpression::new_bool(party.is_active())),
        ],
        [uid("Role", party.role.as_str())],
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_action_is_decided_by_every_policy_whose_scope_can_take_it() {
        let schema = r#"
            namespace Ponte {
                entity Party;
                entity Case;
                action "Reading";
                action "Read" in ["Reading"] appliesTo { principal: Party, resource: Case };
                action "Write" appliesTo { principal: Party, resource: Case };
                action "Erase" appliesTo { principal: Party, resource: Case };
            }
        "#;
        let policies = r#"
            @id("read-by-group") permit (principal, action in Ponte::Action::"Reading", resource);
            @id("write") permit (principal, action == Ponte::Action::"Write", resource);
            @id("write-or-erase") forbid (principal, action in [Ponte::Action::"Write", Ponte::Action::"Erase"], resource);
            @id("any") forbid (principal, action, resource) when { false };
        "#;
        let engine =
            PolicyEngine::from_sources(schema, &[("test.cedar".into(), policies.into())]).unwrap();
        let ids = |action: &str| -> Vec<String> {
            let mut ids: Vec<String> = engine.by_action[action]
                .policies()
                .map(|p| p.id().to_string())
                .collect();
            ids.sort();
            ids
        };
        // A group in the scope keeps the policy for every action.
        assert_eq!(ids("Read"), ["any", "read-by-group"]);
        assert_eq!(
            ids("Write"),
            ["any", "read-by-group", "write", "write-or-erase"]
        );
        assert_eq!(ids("Erase"), ["any", "read-by-group", "write-or-erase"]);
    }

    #[test]
    fn context_values_become_cedar_values_and_anything_else_is_refused() {
        let party = json!({ "__entity": { "type": "Ponte::Party", "id": "iom-rome" } });
        for good in [
            json!("text"),
            json!(true),
            json!(42),
            json!(["a", "b"]),
            json!({ "nested": { "flag": false } }),
            party.clone(),
            json!([party.clone()]),
        ] {
            assert!(restricted(good.clone()).is_ok(), "{good}");
        }
        for bad in [
            json!(null),
            json!(1.5),
            json!(["a", null]),
            json!({ "__entity": { "type": "Ponte::Party", "id": "x" }, "extra": 1 }),
            json!({ "__entity": "not a uid" }),
        ] {
            assert!(restricted(bad.clone()).is_err(), "{bad}");
        }
    }
}
