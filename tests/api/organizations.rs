//! Organization owners manage their members.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

fn member_body(role: &str) -> (String, Value) {
    let email = unique_email("member");
    let body = json!({"email": email, "password": PASSWORD, "display_name": "赵磊", "role": role});
    (email, body)
}

#[tokio::test]
async fn an_owner_adds_a_purchaser_who_can_then_sign_in() {
    let app = TestApp::spawn().await;
    let (owner, org, _) = app.organization("enterprise").await;
    let (email, body) = member_body("purchaser");
    let response =
        owner.post(app.url(&format!("/api/v1/organizations/{org}/members"))).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let member: Value = response.json().await.unwrap();
    assert_eq!(member["role"], "purchaser");
    assert_eq!(member["email"], email);

    let client = new_client();
    login(&app, &client, &email, PASSWORD).await;
    let me: Value = client.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "enterprise");
    assert_eq!(me["memberships"][0]["organization_id"], org.to_string());
    assert_eq!(me["memberships"][0]["role"], "purchaser");

    let members: Vec<Value> = client
        .get(app.url(&format!("/api/v1/organizations/{org}/members")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(members.len(), 2);
}

#[tokio::test]
async fn roles_must_fit_the_kind_of_organization() {
    let app = TestApp::spawn().await;
    let (enterprise_owner, enterprise, _) = app.organization("enterprise").await;
    let (producer_owner, producer, _) = app.organization("producer").await;
    for (client, org, role) in [
        (&enterprise_owner, enterprise, "staff"),
        (&enterprise_owner, enterprise, "owner"),
        (&producer_owner, producer, "purchaser"),
        (&producer_owner, producer, "approver"),
    ] {
        let (_, body) = member_body(role);
        let response =
            client.post(app.url(&format!("/api/v1/organizations/{org}/members"))).json(&body).send().await.unwrap();
        let problem = assert_problem(response, 422, "validation_failed").await;
        field_errors(&problem, "role");
    }
    let (_, body) = member_body("staff");
    let response = producer_owner
        .post(app.url(&format!("/api/v1/organizations/{producer}/members")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(app.count("memberships").await, 3);
}

#[tokio::test]
async fn an_owner_changes_a_members_role() {
    let app = TestApp::spawn().await;
    let (owner, org, _) = app.organization("enterprise").await;
    let (_, body) = member_body("purchaser");
    let member: Value = owner
        .post(app.url(&format!("/api/v1/organizations/{org}/members")))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = id_at(&member, "/account_id");
    let url = app.url(&format!("/api/v1/organizations/{org}/members/{account}"));
    let response = owner.patch(&url).json(&json!({"role": "approver"})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let role: String = sqlx::query_scalar("select role from memberships where account_id = $1")
        .bind(account)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "approver");
    let response = owner.patch(&url).json(&json!({"role": "staff"})).send().await.unwrap();
    assert_problem(response, 422, "validation_failed").await;
    let response = owner.patch(&url).json(&json!({"role": "boss"})).send().await.unwrap();
    let problem = assert_problem(response, 422, "validation_failed").await;
    field_errors(&problem, "role");
}

#[tokio::test]
async fn removing_a_member_ends_their_sessions_and_their_sign_in() {
    let app = TestApp::spawn().await;
    let (owner, org, _) = app.organization("producer").await;
    let (email, body) = member_body("staff");
    let member: Value = owner
        .post(app.url(&format!("/api/v1/organizations/{org}/members")))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = id_at(&member, "/account_id");
    let member_client = new_client();
    let session = app.session_cookie(&login(&app, &member_client, &email, PASSWORD).await).unwrap();

    let response =
        owner.delete(app.url(&format!("/api/v1/organizations/{org}/members/{account}"))).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(!app.redis_exists(&app.session_key(&session)).await);
    assert_problem(member_client.get(app.url("/api/v1/me")).send().await.unwrap(), 401, "unauthenticated").await;
    let response = app.post("/api/v1/auth/login", &json!({"email": email, "password": PASSWORD})).await;
    assert_problem(response, 403, "account_disabled").await;
    assert_eq!(app.count("memberships").await, 1);
}

#[tokio::test]
async fn the_owners_own_membership_cannot_be_changed_or_removed() {
    let app = TestApp::spawn().await;
    let (owner, org, owner_id) = app.organization("enterprise").await;
    let url = app.url(&format!("/api/v1/organizations/{org}/members/{owner_id}"));
    assert_problem(owner.patch(&url).json(&json!({"role": "purchaser"})).send().await.unwrap(), 409, "owner_immutable")
        .await;
    assert_problem(owner.delete(&url).send().await.unwrap(), 409, "owner_immutable").await;
    let role: String = sqlx::query_scalar("select role from memberships where account_id = $1")
        .bind(owner_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "owner");
}

#[tokio::test]
async fn a_member_who_is_not_the_owner_may_read_but_not_manage() {
    let app = TestApp::spawn().await;
    let (owner, org, _) = app.organization("enterprise").await;
    let (email, body) = member_body("approver");
    owner.post(app.url(&format!("/api/v1/organizations/{org}/members"))).json(&body).send().await.unwrap();
    let approver = new_client();
    login(&app, &approver, &email, PASSWORD).await;
    let url = app.url(&format!("/api/v1/organizations/{org}/members"));
    assert_eq!(approver.get(&url).send().await.unwrap().status(), 200);
    let (_, body) = member_body("purchaser");
    assert_problem(approver.post(&url).json(&body).send().await.unwrap(), 403, "forbidden").await;
    assert_eq!(app.count("memberships").await, 2);
}

#[tokio::test]
async fn another_organizations_members_are_not_found() {
    let app = TestApp::spawn().await;
    let (_, org, owner_id) = app.organization("enterprise").await;
    let (stranger, _, _) = app.organization("enterprise").await;
    let (consumer, _) = app.consumer().await;
    for client in [&stranger, &consumer] {
        let url = app.url(&format!("/api/v1/organizations/{org}/members"));
        assert_problem(client.get(&url).send().await.unwrap(), 404, "not_found").await;
        let (_, body) = member_body("purchaser");
        assert_problem(client.post(&url).json(&body).send().await.unwrap(), 404, "not_found").await;
        let url = app.url(&format!("/api/v1/organizations/{org}/members/{owner_id}"));
        assert_problem(client.delete(&url).send().await.unwrap(), 404, "not_found").await;
    }
    let url = app.url(&format!("/api/v1/organizations/{}/members", Uuid::now_v7()));
    assert_problem(stranger.get(&url).send().await.unwrap(), 404, "not_found").await;
    assert_problem(
        stranger.get(app.url("/api/v1/organizations/not-a-uuid/members")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.count("memberships").await, 2);
}

#[tokio::test]
async fn members_need_a_session() {
    let app = TestApp::spawn().await;
    let (_, org, _) = app.organization("producer").await;
    let response = new_client().get(app.url(&format!("/api/v1/organizations/{org}/members"))).send().await.unwrap();
    assert_problem(response, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_member_email_already_taken_is_a_conflict() {
    let app = TestApp::spawn().await;
    let (owner, org, _) = app.organization("enterprise").await;
    let (_, email) = app.consumer().await;
    let body = json!({"email": email, "password": PASSWORD, "display_name": "x", "role": "purchaser"});
    let response =
        owner.post(app.url(&format!("/api/v1/organizations/{org}/members"))).json(&body).send().await.unwrap();
    assert_problem(response, 409, "email_taken").await;
    assert_eq!(app.count("memberships").await, 1);
}
