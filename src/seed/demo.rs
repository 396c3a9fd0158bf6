//! `tonggan seed --demo [--products N]`: plausible demo data on the real Gansu counties —
//! verified producers with farmer-linkage statements, products in realistic categories with
//! tier ladders and price histories, Tianjin enterprises, consumers, and a demo admin and
//! auditor. Deterministic (fixed RNG seed), and refuses to run twice on one database.

use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use uuid::Uuid;

use crate::accounts::model::{AccountRole, MemberRole, OrgKind, OrgStatus, Uscc};
use crate::accounts::{self, NewAccount, NewOrganization, seeding as accounts_db};
use crate::catalog::search;
use crate::catalog::seeding::{self as catalog_db, PriceChangeBatch, ProductBatch};
use crate::password::PasswordHasher;
use crate::regions::{self, model::GANSU, model::TIANJIN};

/// Every demo account signs in with this password.
pub const DEMO_PASSWORD: &str = "tonggan-demo-2026";
pub const DEMO_ADMIN: &str = "admin@demo.tonggan.cn";
pub const DEMO_AUDITOR: &str = "auditor@demo.tonggan.cn";

struct Template {
    category: i32,
    name: &'static str,
    unit: &'static str,
    spec: &'static str,
    /// Retail price range in fen.
    price: (i64, i64),
    pitch: &'static str,
}

const TEMPLATES: &[Template] = &[
    Template {
        category: 1,
        name: "牦牛肉",
        unit: "斤",
        spec: "鲜切 500g",
        price: (6800, 9800),
        pitch: "高原散养牦牛，草饲两年以上，肉质紧实",
    },
    Template {
        category: 1,
        name: "手抓羊肉",
        unit: "斤",
        spec: "带骨 500g",
        price: (5200, 7800),
        pitch: "滩羊现宰现发，清真认证，冷链直达",
    },
    Template {
        category: 1,
        name: "清真牛肉干",
        unit: "袋",
        spec: "250g/袋",
        price: (3800, 5800),
        pitch: "手工风干，五香与麻辣两种口味",
    },
    Template {
        category: 1,
        name: "羊羔肉",
        unit: "kg",
        spec: "整只分割",
        price: (9800, 13800),
        pitch: "放牧羊羔，无膻味，适合涮煮",
    },
    Template {
        category: 2,
        name: "红富士苹果",
        unit: "箱",
        spec: "5kg/箱 80mm+",
        price: (4500, 8800),
        pitch: "海拔1500米以上果园，糖度14以上，脆甜多汁",
    },
    Template {
        category: 2,
        name: "花牛苹果",
        unit: "箱",
        spec: "5kg/箱",
        price: (5500, 9900),
        pitch: "元帅系花牛，果面浓红，香气浓郁",
    },
    Template {
        category: 2,
        name: "马铃薯",
        unit: "斤",
        spec: "精选中薯",
        price: (150, 380),
        pitch: "黄心沙瓤，耐储存，产地直发",
    },
    Template {
        category: 2,
        name: "百合",
        unit: "盒",
        spec: "鲜百合 500g",
        price: (3800, 6800),
        pitch: "甜百合，瓣大肉厚，可生食",
    },
    Template {
        category: 2,
        name: "蜜瓜",
        unit: "个",
        spec: "单果 2kg+",
        price: (1800, 3500),
        pitch: "沙漠绿洲种植，昼夜温差大，清甜",
    },
    Template {
        category: 2,
        name: "高原夏菜",
        unit: "箱",
        spec: "混装 5kg",
        price: (3900, 6900),
        pitch: "西兰花、娃娃菜、芹菜当日采摘",
    },
    Template {
        category: 3,
        name: "小杂粮礼盒",
        unit: "盒",
        spec: "6种 3kg",
        price: (6800, 12800),
        pitch: "荞麦、燕麦、糜子、扁豆等旱作杂粮",
    },
    Template {
        category: 3,
        name: "胡麻油",
        unit: "桶",
        spec: "5L/桶",
        price: (9800, 15800),
        pitch: "冷榨胡麻油，富含亚麻酸",
    },
    Template {
        category: 3,
        name: "小麦粉",
        unit: "袋",
        spec: "10kg/袋",
        price: (4800, 7800),
        pitch: "河西走廊强筋小麦，适合拉面馒头",
    },
    Template {
        category: 3,
        name: "橄榄油",
        unit: "瓶",
        spec: "500ml/瓶",
        price: (6800, 12800),
        pitch: "陇南初榨橄榄油，酸度低于0.5%",
    },
    Template {
        category: 4,
        name: "当归",
        unit: "斤",
        spec: "全归 特级",
        price: (4800, 9800),
        pitch: "道地药材，头大身长，香气浓",
    },
    Template {
        category: 4,
        name: "黄芪",
        unit: "斤",
        spec: "切片",
        price: (3800, 7800),
        pitch: "仿野生种植五年，粉性足",
    },
    Template {
        category: 4,
        name: "党参",
        unit: "斤",
        spec: "条参",
        price: (5800, 11800),
        pitch: "纹党，狮子盘头，味甜",
    },
    Template {
        category: 4,
        name: "枸杞",
        unit: "袋",
        spec: "500g/袋",
        price: (3500, 6800),
        pitch: "颗粒饱满，免洗即食",
    },
    Template {
        category: 5,
        name: "牦牛酸奶",
        unit: "盒",
        spec: "200g*12",
        price: (5800, 8800),
        pitch: "高原牧场牦牛奶发酵，无添加",
    },
    Template {
        category: 5,
        name: "牦牛奶粉",
        unit: "罐",
        spec: "400g/罐",
        price: (12800, 19800),
        pitch: "全脂牦牛奶粉，高蛋白",
    },
    Template {
        category: 5,
        name: "奶皮子",
        unit: "袋",
        spec: "250g/袋",
        price: (3800, 5800),
        pitch: "传统工艺手工制作",
    },
    Template {
        category: 6,
        name: "核桃",
        unit: "斤",
        spec: "薄壳 32mm+",
        price: (1800, 3200),
        pitch: "陇南薄皮核桃，手捏即开",
    },
    Template {
        category: 6,
        name: "花椒",
        unit: "袋",
        spec: "250g/袋",
        price: (3800, 6800),
        pitch: "大红袍花椒，麻香浓郁",
    },
    Template {
        category: 6,
        name: "黄花菜",
        unit: "袋",
        spec: "500g/袋",
        price: (2800, 4800),
        pitch: "无硫熏蒸，自然晾晒",
    },
    Template {
        category: 6,
        name: "牛肉面礼盒",
        unit: "盒",
        spec: "6人份",
        price: (6800, 9800),
        pitch: "一清二白三红四绿，在家吃到正宗牛肉面",
    },
    Template {
        category: 7,
        name: "散养土鸡蛋",
        unit: "盒",
        spec: "30枚/盒",
        price: (3800, 6800),
        pitch: "林下散养，蛋黄饱满",
    },
    Template {
        category: 7,
        name: "土鸡",
        unit: "只",
        spec: "1.5kg+",
        price: (8800, 13800),
        pitch: "散养一年以上，肉质紧实",
    },
    Template {
        category: 8,
        name: "葡萄酒",
        unit: "瓶",
        spec: "750ml",
        price: (8800, 29800),
        pitch: "河西走廊酿酒葡萄，橡木桶陈酿",
    },
    Template {
        category: 8,
        name: "绿茶",
        unit: "盒",
        spec: "250g/盒",
        price: (9800, 19800),
        pitch: "陇南高山云雾茶，明前采摘",
    },
    Template {
        category: 8,
        name: "沙棘汁",
        unit: "箱",
        spec: "250ml*12",
        price: (4800, 7800),
        pitch: "野生沙棘鲜榨，维C丰富",
    },
];

const GRADES: &[&str] = &["特级", "一级", "精选", "产地直供", "新货", "礼盒装", "家庭装", "合作社直供"];

/// A valid USCC made from the RNG: region code from the adcode, a random body, the check character.
fn uscc(rng: &mut StdRng, adcode: i32) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let random: String = (0..9).map(|_| ALPHABET[rng.random_range(0..31)] as char).collect();
    let body = format!("93{adcode:06}{random}");
    let check = Uscc::check_char(&body).expect("the body is of the alphabet");
    format!("{body}{check}")
}

/// A verified producer of the demo: organization, owner account, county.
struct DemoProducer {
    id: Uuid,
    owner_id: Uuid,
    adcode: i32,
    county: String,
}

/// Seeds the demo. Returns false (and changes nothing) when the database was seeded before.
pub async fn demo(pool: &PgPool, hasher: &PasswordHasher, products: usize) -> anyhow::Result<bool> {
    if accounts::email_registered(pool, DEMO_ADMIN).await? {
        return Ok(false);
    }
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(2026);
    let hash = hasher.hash(DEMO_PASSWORD).await?;
    let counties = regions::counties_in_province(pool, GANSU).await?;
    let districts = regions::counties_in_province(pool, TIANJIN).await?;
    anyhow::ensure!(!counties.is_empty() && !districts.is_empty(), "the regions table is empty; run migrate first");

    let mut tx = pool.begin().await?;
    people(&mut tx, &hash).await?;
    enterprises(&mut tx, &mut rng, &hash, &districts).await?;
    let producer_count = (products / 250).max(counties.len()).min(products.max(1));
    let producers = producers(&mut tx, &mut rng, &hash, &counties, producer_count).await?;
    tx.commit().await?;

    // Products, in batches of 5,000 rows per statement.
    let now = Utc::now();
    let mut done = 0;
    while done < products {
        let n = (products - done).min(5000);
        let (batch, history) = product_batch(&mut rng, &producers, done, n, now);
        let mut tx = pool.begin().await?;
        catalog_db::bulk_insert_products(&mut *tx, &batch).await.context("inserting products")?;
        catalog_db::bulk_insert_price_changes(&mut *tx, &history).await.context("inserting price history")?;
        tx.commit().await?;
        done += n;
    }
    // Merge the GIN pending list and refresh statistics, so the planner sees the new rows.
    // Runtime query on purpose: maintenance with no parameters or result for the macros to check.
    sqlx::query("vacuum analyze products, price_changes, organizations, accounts").execute(pool).await?;
    tracing::info!(
        products,
        producers = producers.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo data seeded"
    );
    Ok(true)
}

pub(super) type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// The demo admin and auditor, and 50 consumers.
async fn people(tx: &mut Tx<'_>, hash: &str) -> anyhow::Result<()> {
    let mut staff = vec![
        (DEMO_ADMIN.to_string(), "演示管理员".to_string(), AccountRole::Admin),
        (DEMO_AUDITOR.to_string(), "演示审计".to_string(), AccountRole::Auditor),
    ];
    for i in 0..50 {
        staff.push((format!("consumer{i}@demo.tonggan.cn"), format!("天津市民{i}"), AccountRole::Consumer));
    }
    for (email, name, role) in &staff {
        let new = NewAccount { email, password_hash: hash, display_name: name, phone: None, role: *role };
        accounts_db::insert_account(&mut **tx, &new).await?;
    }
    Ok(())
}

/// Enterprises: canteens, hospitals, companies of Tianjin buying assistance products.
async fn enterprises(tx: &mut Tx<'_>, rng: &mut StdRng, hash: &str, districts: &[(i32, String)]) -> anyhow::Result<()> {
    for i in 0..30 {
        enterprise(tx, rng, hash, districts, i, "", &format!("enterprise{i}@demo.tonggan.cn")).await?;
    }
    Ok(())
}

/// The `i`th verified enterprise (its name carries `tag`, so that later seeds do not repeat
/// names), owned by `email`.
pub(super) async fn enterprise(
    tx: &mut Tx<'_>,
    rng: &mut StdRng,
    hash: &str,
    districts: &[(i32, String)],
    i: usize,
    tag: &str,
    email: &str,
) -> anyhow::Result<()> {
    let kinds = ["食堂管理有限公司", "人民医院", "机关事务服务中心", "电力有限公司", "商贸集团", "中学"];
    let (adcode, district) = &districts[i % districts.len()];
    let name = format!("天津市{district}{}{tag}{}", kinds[i % kinds.len()], i + 1);
    let org = organization(rng, OrgKind::Enterprise, &name, *adcode, None);
    let org = accounts_db::insert_organization(&mut **tx, &org.as_new()).await?;
    owner(tx, hash, org.id, email, OrgKind::Enterprise).await?;
    accounts_db::set_organization_status(tx, org.id, OrgStatus::Verified, None).await?;
    Ok(())
}

/// Producers spread over the counties (at least one per county), each verified.
async fn producers(
    tx: &mut Tx<'_>,
    rng: &mut StdRng,
    hash: &str,
    counties: &[(i32, String)],
    count: usize,
) -> anyhow::Result<Vec<DemoProducer>> {
    let mut producers = Vec::with_capacity(count);
    for i in 0..count {
        let (adcode, county) = &counties[i % counties.len()];
        let form = ["农民专业合作社", "农业发展有限公司", "特色农产品合作社", "种养殖专业合作社"][i % 4];
        let name = format!("{county}{}{form}", ["兴农", "丰源", "绿野", "高原", "陇原", "金穗"][i % 6]);
        let households = rng.random_range(30..900);
        let linkage = format!("“合作社+农户”模式带动{households}户，保底收购、二次分红，户均年增收3000元以上。");
        let org = organization(rng, OrgKind::Producer, &name, *adcode, Some((linkage, households)));
        let org = accounts_db::insert_organization(&mut **tx, &org.as_new()).await?;
        let owner_id = owner(tx, hash, org.id, &format!("producer{i}@demo.tonggan.cn"), OrgKind::Producer).await?;
        accounts_db::set_organization_status(tx, org.id, OrgStatus::Verified, None).await?;
        producers.push(DemoProducer { id: org.id, owner_id, adcode: *adcode, county: county.clone() });
    }
    Ok(producers)
}

/// `n` products (numbered from `first`) and their price histories, for one bulk insert.
fn product_batch(
    rng: &mut StdRng,
    producers: &[DemoProducer],
    first: usize,
    n: usize,
    now: chrono::DateTime<Utc>,
) -> (ProductBatch, PriceChangeBatch) {
    let mut batch = ProductBatch::default();
    let mut history = PriceChangeBatch::default();
    for k in first..first + n {
        let producer = &producers[k % producers.len()];
        let county = &producer.county;
        let t = &TEMPLATES[rng.random_range(0..TEMPLATES.len())];
        let grade = GRADES[rng.random_range(0..GRADES.len())];
        let title = format!("{county}{} {grade}", t.name);
        let description = format!(
            "{}。产自甘肃{county}，{}。",
            t.pitch,
            ["顺丰冷链", "次日达", "产地直发", "48小时发货"][(k - first) % 4]
        );
        let retail = rng.random_range(t.price.0..=t.price.1) / 10 * 10;
        let created = now - Duration::minutes(rng.random_range(0..60 * 24 * 120));
        let id = Uuid::now_v7();
        let status = match rng.random_range(0..100) {
            0..=91 => "listed",
            92..=95 => "pending_review",
            96..=98 => "draft",
            _ => "delisted",
        };
        batch.ids.push(id);
        batch.producer_ids.push(producer.id);
        batch.category_ids.push(t.category);
        batch.grams.push(search::grams(&format!("{title} {description}")).join(" "));
        batch.titles.push(title);
        batch.descriptions.push(description);
        batch.origins.push(producer.adcode);
        batch.units.push(t.unit.into());
        batch.specs.push(t.spec.into());
        batch.stocks.push(if rng.random_range(0..10) == 0 { 0 } else { rng.random_range(10..5000) });
        batch.images.push(format!("https://img.demo.tonggan.cn/p/{}.jpg", id.simple()));
        batch.tiers_json.push(ladder(retail));
        batch.retail_prices.push(retail);
        batch.statuses.push(status.into());
        // Three in ten are certified, verified, by the province's agriculture department.
        let cert = (rng.random_range(0..10) < 3).then(|| format!("GSXF-2026-{k:06}"));
        batch.cert_issuers.push(cert.as_ref().map(|_| "甘肃省农业农村厅".to_string()));
        batch.cert_valid_from.push(cert.as_ref().and(chrono::NaiveDate::from_ymd_opt(2026, 1, 1)));
        batch.cert_valid_until.push(cert.as_ref().and(chrono::NaiveDate::from_ymd_opt(2028, 12, 31)));
        batch.cert_statuses.push(cert.as_ref().map(|_| "verified".to_string()));
        batch.cert_numbers.push(cert);
        batch.sales.push(rng.random_range(0..3000));
        batch.created_at.push(created);
        price_history(rng, &mut history, id, producer.owner_id, retail, created, now);
    }
    (batch, history)
}

/// A product's history: the first ladder at creation, then up to two changes since, ending at
/// the current `retail` price.
fn price_history(
    rng: &mut StdRng,
    history: &mut PriceChangeBatch,
    id: Uuid,
    owner_id: Uuid,
    retail: i64,
    created: chrono::DateTime<Utc>,
    now: chrono::DateTime<Utc>,
) {
    let mut at = created;
    let changes = rng.random_range(0..3);
    let mut prices = vec![retail];
    for _ in 0..changes {
        let p = prices[prices.len() - 1];
        prices.push((p as f64 * rng.random_range(0.85..1.15)) as i64 / 10 * 10);
    }
    prices.reverse(); // the current price is the last one set
    let mut old: Option<(String, i64)> = None;
    for p in prices {
        history.product_ids.push(id);
        history.changed_by.push(owner_id);
        history.changed_at.push(at);
        history.old_tiers_json.push(old.as_ref().map(|o| o.0.clone()));
        history.old_retail.push(old.as_ref().map(|o| o.1));
        let tiers = ladder(p);
        history.new_tiers_json.push(tiers.clone());
        history.new_retail.push(p);
        old = Some((tiers, p));
        at += (now - at) / 3;
    }
}

/// A ladder from a retail price: 5% off from 10, 10% off from 50.
fn ladder(retail: i64) -> String {
    serde_json::json!([
        {"min_qty": 1, "unit_price_fen": retail},
        {"min_qty": 10, "unit_price_fen": retail * 95 / 100},
        {"min_qty": 50, "unit_price_fen": retail * 90 / 100},
    ])
    .to_string()
}

struct OrgSeed {
    kind: OrgKind,
    legal_name: String,
    uscc: String,
    adcode: i32,
    linkage: Option<(String, i32)>,
}

impl OrgSeed {
    fn as_new(&self) -> NewOrganization<'_> {
        NewOrganization {
            kind: self.kind,
            legal_name: &self.legal_name,
            uscc: &self.uscc,
            region_adcode: self.adcode,
            contact_name: "联系人",
            contact_phone: "13800000000",
            address: &self.legal_name,
            farmer_linkage: self.linkage.as_ref().map(|l| l.0.as_str()),
            households: self.linkage.as_ref().map(|l| l.1),
        }
    }
}

fn organization(rng: &mut StdRng, kind: OrgKind, name: &str, adcode: i32, linkage: Option<(String, i32)>) -> OrgSeed {
    OrgSeed { kind, legal_name: name.to_string(), uscc: uscc(rng, adcode), adcode, linkage }
}

async fn owner(tx: &mut Tx<'_>, hash: &str, organization_id: Uuid, email: &str, kind: OrgKind) -> anyhow::Result<Uuid> {
    let role = if kind == OrgKind::Enterprise { AccountRole::Enterprise } else { AccountRole::Producer };
    let new = NewAccount { email, password_hash: hash, display_name: "负责人", phone: None, role };
    let account = accounts_db::insert_account(&mut **tx, &new).await?;
    accounts_db::insert_membership(&mut **tx, organization_id, account.id, MemberRole::Owner).await?;
    Ok(account.id)
}
