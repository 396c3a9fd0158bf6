//! Problem titles, details and per-field messages follow `Accept-Language` (`zh-CN`, `en`);
//! codes and field names do not. The catalogs themselves (every id in both languages, every
//! documented code titled) are checked by the unit tests in `src/i18n.rs`.

use reqwest::{Response, header::CONTENT_LANGUAGE};
use serde_json::{Value, json};
use tonggan::i18n::Lang;

use crate::helpers::{TestApp, consumer_body};

async fn send(app: &TestApp, request: reqwest::RequestBuilder, lang: Option<&str>) -> (u16, Option<String>, Value) {
    let _ = app;
    let request = match lang {
        Some(lang) => request.header("accept-language", lang),
        None => request,
    };
    let response: Response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let language = response.headers().get(CONTENT_LANGUAGE).map(|v| v.to_str().unwrap().to_string());
    (status, language, response.json().await.unwrap())
}

async fn bad_sign_up(app: &TestApp, lang: Option<&str>) -> (u16, Option<String>, Value) {
    let mut body = consumer_body("not-an-email");
    body["password"] = json!("short");
    body["nickname"] = json!("x");
    let request = app.anonymous().client.post(app.url("/api/v1/auth/register/consumer")).json(&body);
    send(app, request, lang).await
}

#[tokio::test]
async fn a_bad_sign_up_is_answered_in_chinese_when_asked_with_the_same_code_and_fields() {
    let app = TestApp::spawn().await;
    let accounts = app.count("accounts").await;
    // An unknown field is refused first, by the body's shape.
    let (status, language, en) = bad_sign_up(&app, None).await;
    assert_eq!((status, language.as_deref()), (422, Some("en")));
    assert_eq!(en["code"], "validation_failed");
    assert_eq!(en["title"], "Invalid fields");
    assert_eq!(en["detail"], "the request has invalid fields");
    assert_eq!(en["errors"], json!({"nickname": ["is not a known field"]}));

    let (status, language, zh) = bad_sign_up(&app, Some("zh-CN,zh;q=0.9,en;q=0.8")).await;
    assert_eq!((status, language.as_deref()), (422, Some("zh-CN")));
    assert_eq!(zh["code"], "validation_failed");
    assert_eq!(zh["type"], en["type"]);
    assert_eq!(zh["title"], "字段有误");
    assert_eq!(zh["detail"], "请求中有字段不正确");
    assert_eq!(zh["errors"], json!({"nickname": ["不是可接受的字段"]}));

    // The values themselves: every bad field, each in the reader's language.
    let mut body = consumer_body("not-an-email");
    body["password"] = json!("short");
    let request = |lang| {
        let request = app.anonymous().client.post(app.url("/api/v1/auth/register/consumer")).json(&body);
        send(&app, request, lang)
    };
    let (_, _, en) = request(Some("en-US")).await;
    let (_, _, zh) = request(Some("zh")).await;
    assert_eq!(
        en["errors"],
        json!({"email": ["must be a valid email address"], "password": ["must be at least 10 characters"]})
    );
    assert_eq!(zh["errors"], json!({"email": ["应为有效的邮箱地址"], "password": ["至少 10 个字符"]}));
    assert_eq!(app.count("accounts").await, accounts, "a refused sign-up creates nothing");
}

#[tokio::test]
async fn the_highest_weighted_language_that_the_catalogs_have_wins() {
    let app = TestApp::spawn().await;
    let me = |lang| send(&app, app.anonymous().client.get(app.url("/api/v1/me")), lang);
    let (status, language, problem) = me(Some("en;q=0.3, zh-TW;q=0.9")).await;
    assert_eq!((status, language.as_deref()), (401, Some("zh-CN")));
    assert_eq!((problem["code"].as_str(), problem["title"].as_str()), (Some("unauthenticated"), Some("未登录")));
    assert_eq!(problem["detail"], "请先登录");
    // Neither language asked for: the configured default (English in tests).
    let (_, language, problem) = me(Some("fr-FR, de;q=0.5")).await;
    assert_eq!((language.as_deref(), problem["detail"].as_str()), (Some("en"), Some("sign in first")));
    let (_, language, _) = me(Some("zh;q=0, en;q=0.1")).await;
    assert_eq!(language.as_deref(), Some("en"));
}

#[tokio::test]
async fn a_server_configured_for_chinese_answers_in_chinese_unless_english_is_asked_for() {
    let app = TestApp::spawn_with(|s| s.server.default_language = Lang::ZhCn).await;
    let anonymous = app.anonymous();
    // The router's 404, the method layer's 405 and a handler's 422 alike.
    let (status, language, problem) = send(&app, anonymous.client.get(app.url("/api/v1/no-such-thing")), None).await;
    assert_eq!((status, language.as_deref()), (404, Some("zh-CN")));
    assert_eq!((problem["title"].as_str(), problem["detail"].as_str()), (Some("未找到"), Some("资源不存在")));
    let (status, _, problem) = send(&app, anonymous.client.delete(app.url("/api/v1/products")), None).await;
    assert_eq!((status, problem["code"].as_str()), (405, Some("method_not_allowed")));
    assert_eq!(problem["detail"], "此资源不支持该请求方法");
    let (status, _, problem) = send(&app, anonymous.client.get(app.url("/api/v1/products?limit=0")), None).await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"], json!({"limit": ["应在 1 到 100 之间"]}));

    let (status, language, problem) =
        send(&app, anonymous.client.get(app.url("/api/v1/products?limit=0")), Some("en")).await;
    assert_eq!((status, language.as_deref()), (422, Some("en")));
    assert_eq!(problem["errors"], json!({"limit": ["must be from 1 to 100"]}));
}

#[tokio::test]
async fn a_successful_reply_says_no_language() {
    let app = TestApp::spawn().await;
    let response =
        app.anonymous().client.get(app.url("/api/v1/categories")).header("accept-language", "zh-CN").send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get(CONTENT_LANGUAGE).is_none());
}
