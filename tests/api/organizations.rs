//! Organization owners manage their members.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn an_owner_adds_a_purchaser_who_can_then_sign_in() {
    let app = TestApp::spawn().await;
    let owner = app.organization("enterprise").await;
    let (email, body) = member_body("purchaser");
    let response = app.as_(&owner).post_member(owner.org, &body).await;
    assert_eq!(response.status(), 201);
    let member: Value = parse(response).await;
    assert_eq!(member["role"], "purchaser");
    assert_eq!(member["email"], email);

    let member = app.as_(&app.sign_in(&email).await);
    let me: Value = parse(member.me().await).await;
    assert_eq!(me["role"], "enterprise");
    assert_eq!(me["memberships"][0]["organization_id"], owner.org.to_string());
    assert_eq!(me["memberships"][0]["role"], "purchaser");

    let members: Vec<Value> = parse(member.members(owner.org).await).await;
    assert_eq!(members.len(), 2);
}

#[tokio::test]
async fn roles_must_fit_the_kind_of_organization() {
    let app = TestApp::spawn().await;
    let enterprise = app.organization("enterprise").await;
    let producer = app.organization("producer").await;
    for (owner, role) in
        [(&enterprise, "staff"), (&enterprise, "owner"), (&producer, "purchaser"), (&producer, "approver")]
    {
        let (_, body) = member_body(role);
        let problem =
            assert_problem(app.as_(owner).post_member(owner.org, &body).await, 422, "validation_failed").await;
        field_errors(&problem, "role");
    }
    let (_, body) = member_body("staff");
    assert_eq!(app.as_(&producer).post_member(producer.org, &body).await.status(), 201);
    assert_eq!(app.count("memberships").await, 3);
}

#[tokio::test]
async fn an_owner_changes_a_members_role() {
    let app = TestApp::spawn().await;
    let owner = app.organization("enterprise").await;
    let org = owner.org;
    let account = app.as_(&owner).add_member(org, "purchaser").await.id;
    let owner = app.as_(&owner);
    assert_eq!(owner.change_role(org, account, "approver").await.status(), 200);
    let role: String = sqlx::query_scalar("select role from memberships where account_id = $1")
        .bind(account)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "approver");
    assert_problem(owner.change_role(org, account, "staff").await, 422, "validation_failed").await;
    let problem = assert_problem(owner.change_role(org, account, "boss").await, 422, "validation_failed").await;
    field_errors(&problem, "role");
}

#[tokio::test]
async fn removing_a_member_ends_their_sessions_and_their_sign_in() {
    let app = TestApp::spawn().await;
    let owner = app.organization("producer").await;
    let member = app.as_(&owner).add_member(owner.org, "staff").await;

    assert_eq!(app.as_(&owner).remove_member(owner.org, member.id).await.status(), 204);
    assert!(!app.redis_exists(&app.session_key(&member.session)).await);
    assert_problem(app.as_(&member).me().await, 401, "unauthenticated").await;
    let response = app.post("/api/v1/auth/login", &json!({"email": member.email, "password": PASSWORD})).await;
    assert_problem(response, 403, "account_disabled").await;
    assert_eq!(app.count("memberships").await, 1);
}

#[tokio::test]
async fn the_owners_own_membership_cannot_be_changed_or_removed() {
    let app = TestApp::spawn().await;
    let owner = app.organization("enterprise").await;
    let (org, owner_id) = (owner.org, owner.id);
    let owner = app.as_(&owner);
    assert_problem(owner.change_role(org, owner_id, "purchaser").await, 409, "owner_immutable").await;
    assert_problem(owner.remove_member(org, owner_id).await, 409, "owner_immutable").await;
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
    let owner = app.organization("enterprise").await;
    let approver = app.as_(&app.as_(&owner).add_member(owner.org, "approver").await);
    assert_eq!(approver.members(owner.org).await.status(), 200);
    let (_, body) = member_body("purchaser");
    assert_problem(approver.post_member(owner.org, &body).await, 403, "forbidden").await;
    assert_eq!(app.count("memberships").await, 2);
}

#[tokio::test]
async fn another_organizations_members_are_not_found() {
    let app = TestApp::spawn().await;
    let owner = app.organization("enterprise").await;
    let stranger = app.organization("enterprise").await;
    let consumer = app.consumer().await;
    for who in [app.as_(&stranger), app.as_(&consumer)] {
        assert_problem(who.members(owner.org).await, 404, "not_found").await;
        let (_, body) = member_body("purchaser");
        assert_problem(who.post_member(owner.org, &body).await, 404, "not_found").await;
        assert_problem(who.remove_member(owner.org, owner.id).await, 404, "not_found").await;
    }
    let stranger = app.as_(&stranger);
    assert_problem(stranger.members(Uuid::now_v7()).await, 404, "not_found").await;
    assert_problem(stranger.get("/api/v1/organizations/not-a-uuid/members").await, 404, "not_found").await;
    assert_eq!(app.count("memberships").await, 2);
}

#[tokio::test]
async fn members_need_a_session() {
    let app = TestApp::spawn().await;
    let org = app.organization("producer").await.org;
    assert_problem(app.anonymous().members(org).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_member_email_already_taken_is_a_conflict() {
    let app = TestApp::spawn().await;
    let owner = app.organization("enterprise").await;
    let consumer = app.consumer().await;
    let body = json!({"email": consumer.email, "password": PASSWORD, "display_name": "x", "role": "purchaser"});
    assert_problem(app.as_(&owner).post_member(owner.org, &body).await, 409, "email_taken").await;
    assert_eq!(app.count("memberships").await, 1);
}
