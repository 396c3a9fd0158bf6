//! Admins verify, reject and suspend organizations; auditors only read.

use serde_json::{Value, json};
use uuid::Uuid;

use tonggan::accounts::model::AccountRole;

use crate::helpers::*;

#[tokio::test]
async fn an_admin_lists_organizations_by_kind_and_status_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    for _ in 0..3 {
        app.organization("enterprise").await;
    }
    let (_, producer, _) = app.organization("producer").await;
    let page: Value = admin
        .get(app.url("/api/v1/admin/organizations?kind=enterprise&limit=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = admin
        .get(app.url(&format!("/api/v1/admin/organizations?kind=enterprise&limit=2&cursor={cursor}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    assert!(next["next_cursor"].is_null());
    let producers: Value = admin
        .get(app.url("/api/v1/admin/organizations?kind=producer&status=pending"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(producers["items"][0]["id"], producer.to_string());
    let verified: Value =
        admin.get(app.url("/api/v1/admin/organizations?status=verified")).send().await.unwrap().json().await.unwrap();
    assert_eq!(verified["items"], json!([]));
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_a_422() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    for (query, field) in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=bm9wZQ", "cursor"),
        ("kind=farm", "kind"),
    ] {
        let response = admin.get(app.url(&format!("/api/v1/admin/organizations?{query}"))).send().await.unwrap();
        let problem = assert_problem(response, 422, "validation_failed").await;
        field_errors(&problem, field);
    }
}

#[tokio::test]
async fn an_admin_verifies_a_pending_organization_and_the_decision_is_recorded() {
    let app = TestApp::spawn().await;
    let (admin, admin_id) = app.staff(AccountRole::Admin).await;
    let (owner, org, _) = app.organization("producer").await;
    let response = admin.post(app.url(&format!("/api/v1/admin/organizations/{org}/verify"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "verified");
    let me: Value = owner.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["memberships"][0]["organization_status"], "verified");
    let (by, from, to): (Uuid, String, String) =
        sqlx::query_as("select admin_id, from_status, to_status from organization_reviews where organization_id = $1")
            .bind(org)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((by, from.as_str(), to.as_str()), (admin_id, "pending", "verified"));
    // Verifying twice is not a transition.
    let again = admin.post(app.url(&format!("/api/v1/admin/organizations/{org}/verify"))).send().await.unwrap();
    assert_problem(again, 409, "invalid_transition").await;
    assert_eq!(app.count("organization_reviews").await, 1);
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_keeps_it() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (_, org, _) = app.organization("enterprise").await;
    let url = app.url(&format!("/api/v1/admin/organizations/{org}/reject"));
    let problem =
        assert_problem(admin.post(&url).json(&json!({"reason": "  "})).send().await.unwrap(), 422, "validation_failed")
            .await;
    field_errors(&problem, "reason");
    let problem =
        assert_problem(admin.post(&url).json(&json!({})).send().await.unwrap(), 422, "validation_failed").await;
    field_errors(&problem, "reason");
    assert_eq!(app.count("organization_reviews").await, 0);
    let body: Value =
        admin.post(&url).json(&json!({"reason": "营业执照不清晰"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["status_reason"], "营业执照不清晰");
    // A rejected application cannot be suspended.
    let response = admin
        .post(app.url(&format!("/api/v1/admin/organizations/{org}/suspend")))
        .json(&json!({"reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 409, "invalid_transition").await;
}

#[tokio::test]
async fn suspension_ends_every_session_of_every_member() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (owner, org, _) = app.organization("enterprise").await;
    admin.post(app.url(&format!("/api/v1/admin/organizations/{org}/verify"))).send().await.unwrap();
    let email = unique_email("member");
    owner
        .post(app.url(&format!("/api/v1/organizations/{org}/members")))
        .json(&json!({"email": email, "password": PASSWORD, "display_name": "m", "role": "purchaser"}))
        .send()
        .await
        .unwrap();
    let member = new_client();
    let member_session = app.session_cookie(&login(&app, &member, &email, PASSWORD).await).unwrap();
    let (bystander, _) = app.consumer().await;

    let response = admin
        .post(app.url(&format!("/api/v1/admin/organizations/{org}/suspend")))
        .json(&json!({"reason": "虚假宣传"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for client in [&owner, &member] {
        assert_problem(client.get(app.url("/api/v1/me")).send().await.unwrap(), 401, "unauthenticated").await;
    }
    assert!(!app.redis_exists(&app.session_key(&member_session)).await);
    assert_eq!(bystander.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);
    // A suspended organization's owner can sign in and see why, but cannot manage members.
    let owner_email: String = sqlx::query_scalar(
        "select a.email from accounts a join memberships m on m.account_id = a.id where m.organization_id = $1 and m.role = 'owner'",
    )
    .bind(org)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let owner_again = new_client();
    let me: Value = login(&app, &owner_again, &owner_email, PASSWORD).await.json().await.unwrap();
    assert_eq!(me["memberships"][0]["organization_status"], "suspended");
    let response = owner_again
        .post(app.url(&format!("/api/v1/organizations/{org}/members")))
        .json(&json!({"email": unique_email("m"), "password": PASSWORD, "display_name": "m", "role": "purchaser"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "organization_inactive").await;
    // Verifying again reinstates it.
    let body: Value = admin
        .post(app.url(&format!("/api/v1/admin/organizations/{org}/verify")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "verified");
}

#[tokio::test]
async fn an_auditor_reads_but_cannot_decide() {
    let app = TestApp::spawn().await;
    let (auditor, _) = app.staff(AccountRole::Auditor).await;
    let (_, org, _) = app.organization("producer").await;
    assert_eq!(auditor.get(app.url("/api/v1/admin/organizations")).send().await.unwrap().status(), 200);
    let response = auditor.post(app.url(&format!("/api/v1/admin/organizations/{org}/verify"))).send().await.unwrap();
    assert_problem(response, 403, "forbidden").await;
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
    let (consumer, _) = app.consumer().await;
    let (owner, org, _) = app.organization("enterprise").await;
    for client in [&consumer, &owner] {
        assert_problem(client.get(app.url("/api/v1/admin/organizations")).send().await.unwrap(), 403, "forbidden")
            .await;
        let response = client.post(app.url(&format!("/api/v1/admin/organizations/{org}/verify"))).send().await.unwrap();
        assert_problem(response, 403, "forbidden").await;
    }
    assert_problem(
        new_client().get(app.url("/api/v1/admin/organizations")).send().await.unwrap(),
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(app.count("organization_reviews").await, 0);
}

#[tokio::test]
async fn deciding_on_an_unknown_organization_is_a_404() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let response =
        admin.post(app.url(&format!("/api/v1/admin/organizations/{}/verify", Uuid::now_v7()))).send().await.unwrap();
    assert_problem(response, 404, "not_found").await;
}
