use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, field_errors};

#[tokio::test]
async fn prefectures_include_gansus_fourteen_and_tianjin() {
    let app = TestApp::spawn().await;
    let regions: Vec<Value> = app.get("/api/v1/regions?level=prefecture").await.json().await.unwrap();
    let gansu = regions.iter().filter(|r| r["adcode"].as_i64().unwrap() / 10_000 == 62).count();
    assert_eq!(gansu, 14);
    assert!(regions.iter().any(|r| r["adcode"] == 120100));
}

#[tokio::test]
async fn counties_of_a_prefecture_are_its_children() {
    let app = TestApp::spawn().await;
    // 平凉市 (620800) has 7 county-level divisions, among them 静宁县.
    let regions: Vec<Value> = app.get("/api/v1/regions?level=county&parent=620800").await.json().await.unwrap();
    assert_eq!(regions.len(), 7);
    assert!(regions.iter().all(|r| r["parent_adcode"] == 620800 && r["level"] == "county"));
    assert!(regions.iter().any(|r| r["name"] == "静宁县"));
}

#[tokio::test]
async fn all_regions_match_the_data_file() {
    let app = TestApp::spawn().await;
    let regions: Vec<Value> = app.get("/api/v1/regions").await.json().await.unwrap();
    let counties = regions.iter().filter(|r| r["level"] == "county").count();
    // 86 Gansu counties and 16 Tianjin districts.
    assert_eq!(counties, 102);
    assert_eq!(regions.len(), 119);
}

#[tokio::test]
async fn a_bad_level_or_parent_is_a_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let problem = assert_problem(app.get("/api/v1/regions?level=village").await, 422, "validation_failed").await;
    field_errors(&problem, "level");
    let problem = assert_problem(app.get("/api/v1/regions?parent=12").await, 422, "validation_failed").await;
    field_errors(&problem, "parent");
    let problem = assert_problem(app.get("/api/v1/regions?color=red").await, 422, "validation_failed").await;
    field_errors(&problem, "color");
}
