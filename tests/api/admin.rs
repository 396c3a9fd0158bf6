//! Admins verify, reject and suspend organizations; auditors only read.

use serde_json::{Value, json};
use uuid::Uuid;

use tonggan::accounts::model::AccountRole;

use crate::helpers::*;

#[tokio::test]
async fn an_admin_lists_organizations_by_kind_and_status_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    for _ in 0..3 {
        app.organization("enterprise").await;
    }
    let producer = app.organization("producer").await;
    let page: Page<Value> = admin.get_json("/api/v1/admin/organizations?kind=enterprise&limit=2").await;
    assert_eq!(page.items.len(), 2);
    let cursor = page.next_cursor.unwrap();
    let next: Page<Value> =
        admin.get_json(&format!("/api/v1/admin/organizations?kind=enterprise&limit=2&cursor={cursor}")).await;
    assert_eq!(next.items.len(), 1);
    assert!(next.next_cursor.is_none());
    let producers: Page<Value> = admin.get_json("/api/v1/admin/organizations?kind=producer&status=pending").await;
    assert_eq!(producers.items[0]["id"], producer.org.to_string());
    let verified: Page<Value> = admin.get_json("/api/v1/admin/organizations?status=verified").await;
    assert!(verified.items.is_empty());
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_a_422() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    for (query, field) in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=bm9wZQ", "cursor"),
        ("kind=farm", "kind"),
    ] {
        let response = admin.get(&format!("/api/v1/admin/organizations?{query}")).await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        field_errors(&problem, field);
    }
}

#[tokio::test]
async fn an_admin_verifies_a_pending_organization_and_the_decision_is_recorded() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let owner = app.organization("producer").await;
    let response = app.as_(admin).verify(owner.org).await;
    assert_eq!(response.status(), 200);
    let body: Value = parse(response).await;
    assert_eq!(body["status"], "verified");
    let me: Value = parse(app.as_(&owner).me().await).await;
    assert_eq!(me["memberships"][0]["organization_status"], "verified");
    let (by, from, to): (Uuid, String, String) =
        sqlx::query_as("select admin_id, from_status, to_status from organization_reviews where organization_id = $1")
            .bind(owner.org)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((by, from.as_str(), to.as_str()), (admin.id, "pending", "verified"));
    // Verifying twice is not a transition.
    assert_problem(app.as_(admin).verify(owner.org).await, 409, "invalid_transition").await;
    assert_eq!(app.count("organization_reviews").await, 1);
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_keeps_it() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let org = app.organization("enterprise").await.org;
    let reject = format!("/api/v1/admin/organizations/{org}/reject");
    let problem = assert_problem(admin.post(&reject, &json!({"reason": "  "})).await, 422, "validation_failed").await;
    field_errors(&problem, "reason");
    let problem = assert_problem(admin.post(&reject, &json!({})).await, 422, "validation_failed").await;
    field_errors(&problem, "reason");
    assert_eq!(app.count("organization_reviews").await, 0);
    let body: Value = parse(admin.post(&reject, &json!({"reason": "营业执照不清晰"})).await).await;
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["status_reason"], "营业执照不清晰");
    // A rejected application cannot be suspended.
    assert_problem(admin.suspend(org, "x").await, 409, "invalid_transition").await;
}

#[tokio::test]
async fn suspension_ends_every_session_of_every_member() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let owner = app.organization("enterprise").await;
    admin.verify(owner.org).await;
    let member = app.as_(&owner).add_member(owner.org, "purchaser").await;
    let bystander = app.consumer().await;

    assert_eq!(admin.suspend(owner.org, "虚假宣传").await.status(), 200);
    for who in [app.as_(&owner), app.as_(&member)] {
        assert_problem(who.me().await, 401, "unauthenticated").await;
    }
    assert!(!app.redis_exists(&app.session_key(&member.session)).await);
    assert_eq!(app.as_(&bystander).me().await.status(), 200);
    // A suspended organization's owner can sign in and see why, but cannot manage members.
    let owner_again = app.anonymous();
    let me: Value = parse(owner_again.login(&owner.email, PASSWORD).await).await;
    assert_eq!(me["memberships"][0]["organization_status"], "suspended");
    let (_, body) = member_body("purchaser");
    assert_problem(owner_again.post_member(owner.org, &body).await, 403, "organization_inactive").await;
    // Verifying again reinstates it.
    let body: Value = parse(admin.verify(owner.org).await).await;
    assert_eq!(body["status"], "verified");
}

#[tokio::test]
async fn an_auditor_reads_but_cannot_decide() {
    let app = TestApp::spawn().await;
    let auditor = app.as_(&app.staff(AccountRole::Auditor).await);
    let org = app.organization("producer").await.org;
    assert_eq!(auditor.get("/api/v1/admin/organizations").await.status(), 200);
    assert_problem(auditor.verify(org).await, 403, "forbidden").await;
    let status: String = sqlx::query_scalar("select status from organizations where id = $1")
        .bind(org)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "pending");
}

#[tokio::test]
async fn consumers_and_organization_owners_are_not_admins() {
    let app = TestApp::spawn().await;
    let consumer = app.consumer().await;
    let owner = app.organization("enterprise").await;
    for who in [app.as_(&consumer), app.as_(&owner)] {
        assert_problem(who.get("/api/v1/admin/organizations").await, 403, "forbidden").await;
        assert_problem(who.verify(owner.org).await, 403, "forbidden").await;
    }
    assert_problem(app.anonymous().get("/api/v1/admin/organizations").await, 401, "unauthenticated").await;
    assert_eq!(app.count("organization_reviews").await, 0);
}

#[tokio::test]
async fn deciding_on_an_unknown_organization_is_a_404() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    assert_problem(admin.verify(Uuid::now_v7()).await, 404, "not_found").await;
}
