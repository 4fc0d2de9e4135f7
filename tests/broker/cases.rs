//! Cases: opened by municipalities, parties attached by the role that may,
//! each party sees only the cases it is on.

use ponte::audit::{self, Outcome};
use serde_json::{json, Value};

use crate::common::{Backend, TestApp};

crate::on_both_databases!(
    a_municipality_opens_a_case_and_gets_a_pseudonymous_id,
    only_a_municipality_may_open_a_case,
    a_bad_country_is_refused_and_nothing_is_stored,
    a_malformed_body_gets_a_problem_answer,
    ministry_attaches_coordination_court_and_guardian_and_coordination_attaches_a_mission,
    attachments_outside_the_roles_are_refused_and_audited,
    each_party_sees_only_the_cases_it_is_on,
    attaching_a_party_twice_is_a_conflict,
    an_unknown_case_is_not_found,
);

async fn a_municipality_opens_a_case_and_gets_a_pseudonymous_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case: Value = app
        .client("comune-torino")
        .post("/v1/cases", &json!({ "country": "al" }))
        .await
        .unwrap();
    let id = case["id"].as_str().unwrap();
    assert!(id.starts_with("case-") && id.len() == 31, "{id}");
    assert_eq!(case["country"], "AL");
    assert_eq!(case["state"], "requested");
    assert_eq!(case["opened_by"], "comune-torino");
    let members: Vec<(&str, &str)> = case["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["party"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(members.len(), 2);
    assert!(members.contains(&("comune-torino", "municipality")));
    assert!(members.contains(&("ministry-labour", "ministry")));
    let other = app.open_case("AL").await;
    assert_ne!(other, id, "ids are random, not sequential");
}

async fn only_a_municipality_may_open_a_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for party in [
        "iom-tirana",
        "ministry-labour",
        "tm-roma",
        "guardian-torino-1",
    ] {
        let err = app
            .client(party)
            .post::<_, Value>("/v1/cases", &json!({ "country": "AL" }))
            .await
            .unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (Some(403), Some("forbidden")),
            "{party}"
        );
    }
    let cases: Vec<Value> = app
        .client("ministry-labour")
        .get("/v1/cases")
        .await
        .unwrap();
    assert!(cases.is_empty());
}

async fn a_bad_country_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client("comune-torino");
    for country in ["XX", "Albania", ""] {
        let err = client
            .post::<_, Value>("/v1/cases", &json!({ "country": country }))
            .await
            .unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (Some(422), Some("invalid_country")),
            "{country}"
        );
    }
    let cases: Vec<Value> = client.get("/v1/cases").await.unwrap();
    assert!(cases.is_empty(), "nothing partial is stored: {cases:?}");
}

async fn a_malformed_body_gets_a_problem_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client("comune-torino");
    let response = client
        .http()
        .post(client.url("/v1/cases"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_json");

    let err = client
        .post::<_, Value>(
            "/v1/cases",
            &json!({ "country": "AL", "child_name": "must never be sent" }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("invalid_body"))
    );
}

async fn ministry_attaches_coordination_court_and_guardian_and_coordination_attaches_a_mission(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let case = app.open_case("AL").await;
    for party in ["iom-rome", "tm-roma", "guardian-torino-1"] {
        let member = app.attach(&case, party, "ministry-labour").await.unwrap();
        assert_eq!(member["party"], party);
        assert_eq!(member["attached_by"], "ministry-labour");
    }
    let member = app.attach(&case, "iom-tirana", "iom-rome").await.unwrap();
    assert_eq!(member["role"], "iom_mission");

    let shown: Value = app
        .client("iom-tirana")
        .get(&format!("/v1/cases/{case}"))
        .await
        .unwrap();
    let mut parties: Vec<&str> = shown["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["party"].as_str().unwrap())
        .collect();
    parties.sort();
    assert_eq!(
        parties,
        [
            "comune-torino",
            "guardian-torino-1",
            "iom-rome",
            "iom-tirana",
            "ministry-labour",
            "tm-roma"
        ]
    );
}

async fn attachments_outside_the_roles_are_refused_and_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.open_case("SN").await;
    let refused = [
        ("iom-dakar", "comune-torino"),   // a municipality attaches nobody
        ("iom-dakar", "ministry-labour"), // the ministry does not attach missions directly
        ("tm-roma", "iom-rome"),          // coordination is not yet on the case
    ];
    for (party, by) in refused {
        let err = app.attach(&case, party, by).await.unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (Some(403), Some("forbidden")),
            "{by} attaching {party}"
        );
        let (_, event) = audit::recent(&app.db, 1).await.unwrap().remove(0);
        assert_eq!(event.action, "AttachParty");
        assert_eq!(event.principal, format!("party:{by}"));
        assert_eq!(event.resource, format!("case:{case}"));
        assert_eq!(event.outcome, Outcome::Deny);
    }
    app.attach(&case, "iom-rome", "ministry-labour")
        .await
        .unwrap();
    let err = app.attach(&case, "tm-roma", "iom-rome").await.unwrap_err();
    assert_eq!(
        err.status(),
        Some(403),
        "coordination attaches missions only"
    );
    let (_, allowed) = audit::recent(&app.db, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|(_, e)| e.outcome == Outcome::Allow && e.action == "AttachParty")
        .unwrap();
    assert_eq!(
        allowed.policy_ids,
        vec!["ministry-attaches-coordination-court-guardian".to_owned()]
    );
}

async fn each_party_sees_only_the_cases_it_is_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tirana_case = app.case_with_mission().await;
    let other_case = app.open_case("SN").await;

    let listed: Vec<Value> = app.client("iom-tirana").get("/v1/cases").await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [tirana_case.as_str()]);
    assert_eq!(listed[0]["my_role"], "iom_mission");

    let listed: Vec<Value> = app.client("iom-dakar").get("/v1/cases").await.unwrap();
    assert!(listed.is_empty());
    let err = app
        .client("iom-dakar")
        .get::<Value>(&format!("/v1/cases/{tirana_case}"))
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("forbidden")));

    let listed: Vec<Value> = app.client("comune-torino").get("/v1/cases").await.unwrap();
    assert_eq!(listed.len(), 2);
    let listed: Vec<Value> = app
        .client("ministry-labour")
        .get("/v1/cases")
        .await
        .unwrap();
    assert!(listed.iter().any(|c| c["id"] == other_case.as_str()));
}

async fn attaching_a_party_twice_is_a_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.open_case("AL").await;
    app.attach(&case, "tm-roma", "ministry-labour")
        .await
        .unwrap();
    let err = app
        .attach(&case, "tm-roma", "ministry-labour")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("already_attached"))
    );
    let err = app
        .attach(&case, "nobody-here", "ministry-labour")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("unknown_party"))
    );
}

async fn an_unknown_case_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client("ministry-labour");
    let err = client
        .get::<Value>("/v1/cases/case-aaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("case_not_found"))
    );
    let err = client.get::<Value>("/v1/cases/42").await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("invalid_case_id"))
    );
}
