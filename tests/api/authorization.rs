//! The authorization matrix (issue 11): every operation × every role × own / other
//! organization's object, with the status (and, for refusals, the problem `code`) a request
//! must get. docs/authorization.md is its readable form; `the_document_shows_this_matrix`
//! keeps the two the same.
//!
//! One world is built per run: two enterprises, two producers and two consumers ("own" is
//! always the side of the acting role, "other" the second one), their members, products in
//! every state the routes need, orders awaiting approval, paid by bank transfer (confirmed by
//! an admin, so no Stripe is needed), shipped and refunded, a certification, price alerts and
//! an assistance certificate. Then every row sends one request in the name of its role, and all
//! differences are reported at once. Allowed rows use an object of their own where the
//! success would use up the fixture, or an object in a state that answers a documented 409, which
//! proves the request got past authorization without changing anything.
//!
//! After the run, the objects that only refusals touched — among them every cross-tenant case
//! that the issue names — are compared with a snapshot taken before it: a refusal changes nothing.
//!
//! `every_documented_operation_has_rows` fails when a route is added to the OpenAPI document
//! without rows here (and when rows name an operation the document does not have).
//!
//! To rewrite the tables in docs/authorization.md from the rows:
//! `AUTHZ_WRITE_DOCS=1 cargo test --test api authorization::the_document_shows_this_matrix`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use reqwest::{Client, Method};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Actor, Order, Owner, PASSWORD, TestApp, User, consumer_body, enterprise_body, id_at, new_client, order_body, parse,
    producer_body, product_body, unique_email, valid_uscc,
};
use tonggan::accounts::model::AccountRole;

// ---- the vocabulary of the matrix ---------------------------------------------------------

/// Who sends a request. Every non-staff role belongs to the "own" side of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Anonymous,
    Consumer,
    EnterpriseOwner,
    Purchaser,
    Approver,
    ProducerOwner,
    ProducerStaff,
    Admin,
    Auditor,
}

use Role::*;

const ALL: [Role; 9] =
    [Anonymous, Consumer, EnterpriseOwner, Purchaser, Approver, ProducerOwner, ProducerStaff, Admin, Auditor];
const SIGNED_IN: [Role; 8] =
    [Consumer, EnterpriseOwner, Purchaser, Approver, ProducerOwner, ProducerStaff, Admin, Auditor];
const NON_STAFF: [Role; 6] = [Consumer, EnterpriseOwner, Purchaser, Approver, ProducerOwner, ProducerStaff];
const BUYERS: [Role; 4] = [Consumer, EnterpriseOwner, Purchaser, Approver];
const ENTERPRISE: [Role; 3] = [EnterpriseOwner, Purchaser, Approver];
const PRODUCERS: [Role; 2] = [ProducerOwner, ProducerStaff];
const NON_PRODUCERS: [Role; 6] = [Consumer, EnterpriseOwner, Purchaser, Approver, Admin, Auditor];
const NOT_BUYING: [Role; 4] = [ProducerOwner, ProducerStaff, Admin, Auditor];
const STAFF: [Role; 2] = [Admin, Auditor];

impl Role {
    fn label(self) -> &'static str {
        match self {
            Anonymous => "anonymous",
            Consumer => "consumer",
            EnterpriseOwner => "enterprise owner",
            Purchaser => "purchaser",
            Approver => "approver",
            ProducerOwner => "producer owner",
            ProducerStaff => "producer staff",
            Admin => "admin",
            Auditor => "auditor",
        }
    }
}

/// Whose object the request names, seen from the acting role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whose {
    /// No owner (public data, the caller's own session, a platform-wide list).
    Na,
    /// The caller's own, or their organization's.
    Own,
    /// Another member's of the caller's own organization (a purchaser and a colleague's order).
    Colleague,
    /// Another buyer's or another organization's.
    Other,
}

impl Whose {
    fn label(self) -> &'static str {
        match self {
            Whose::Na => "",
            Whose::Own => "own",
            Whose::Colleague => "colleague's",
            Whose::Other => "other",
        }
    }
}

const NA: Whose = Whose::Na;
const OWN: Whose = Whose::Own;
const COLLEAGUE: Whose = Whose::Colleague;
const OTHER: Whose = Whose::Other;

/// The expected status, and for refusals the problem `code`.
type Expect = (u16, Option<&'static str>);

const fn ok(status: u16) -> Expect {
    (status, None)
}

const fn no(status: u16, code: &'static str) -> Expect {
    (status, Some(code))
}

const UNAUTHENTICATED: Expect = no(401, "unauthenticated");
const FORBIDDEN: Expect = no(403, "forbidden");
const NOT_FOUND: Expect = no(404, "not_found");
const INVALID_TRANSITION: Expect = no(409, "invalid_transition");

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Csv(&'static str),
}

/// When a row runs: session-ending operations run after everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Normal,
    /// Ends every session of the account.
    LogoutAll,
    /// Changes the password (and ends every session).
    Password,
}

/// One request and what it must get.
#[derive(Debug, Clone)]
struct Row {
    method: Method,
    /// As the OpenAPI document spells it, with `{name}` for each path parameter.
    path: &'static str,
    query: &'static str,
    /// Fixture keys, one per path parameter, in order.
    args: Vec<&'static str>,
    body: Body,
    role: Role,
    whose: Whose,
    expect: Expect,
    /// For a 422, the field `errors` must name.
    field: Option<&'static str>,
    /// In a second session of the role's account (for operations on the session itself).
    fresh_session: bool,
    phase: Phase,
    /// For a list: fixture objects whose ids the reply must contain ...
    shows: Vec<&'static str>,
    /// ... and must not contain (another tenant's, a colleague's).
    hides: Vec<&'static str>,
}

impl Row {
    fn operation(&self) -> (String, String) {
        (self.method.as_str().to_lowercase(), self.path.to_string())
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whose = if self.whose == NA { String::new() } else { format!(", {}", self.whose.label()) };
        let args = if self.args.is_empty() { String::new() } else { format!(" {:?}", self.args) };
        write!(f, "{} {}{}{} as {}{}", self.method, self.path, self.query, args, self.role.label(), whose)
    }
}

/// One operation's rows; the builder the matrix is written with.
struct Op {
    method: Method,
    path: &'static str,
    query: &'static str,
    body: Body,
    fresh_session: bool,
    phase: Phase,
    /// What the document says under the operation.
    note: &'static str,
    rows: Vec<Row>,
}

fn op(method: Method, path: &'static str) -> Op {
    Op {
        method,
        path,
        query: "",
        body: Body::None,
        fresh_session: false,
        phase: Phase::Normal,
        note: "",
        rows: Vec::new(),
    }
}

fn get(path: &'static str) -> Op {
    op(Method::GET, path)
}

fn post(path: &'static str) -> Op {
    op(Method::POST, path)
}

fn put(path: &'static str) -> Op {
    op(Method::PUT, path)
}

fn patch(path: &'static str) -> Op {
    op(Method::PATCH, path)
}

fn delete(path: &'static str) -> Op {
    op(Method::DELETE, path)
}

impl Op {
    fn query(mut self, query: &'static str) -> Self {
        self.query = query;
        self
    }

    fn note(mut self, note: &'static str) -> Self {
        self.note = note;
        self
    }

    fn json(mut self, body: Value) -> Self {
        self.body = Body::Json(body);
        self
    }

    fn csv(mut self, body: &'static str) -> Self {
        self.body = Body::Csv(body);
        self
    }

    /// Each row runs in a second, fresh session of its role's account.
    fn own_session(mut self, phase: Phase) -> Self {
        self.fresh_session = true;
        self.phase = phase;
        self
    }

    /// A row per role, with the operation's body.
    fn rows(self, roles: &[Role], whose: Whose, args: &[&'static str], expect: Expect) -> Self {
        let body = self.body.clone();
        self.rows_with(roles, whose, args, body, expect, None)
    }

    /// A row per role, with another body; `field` is what a 422 must name.
    fn rows_with(
        mut self,
        roles: &[Role],
        whose: Whose,
        args: &[&'static str],
        body: Body,
        expect: Expect,
        field: Option<&'static str>,
    ) -> Self {
        assert_eq!(args.len(), self.path.matches('{').count(), "one argument per parameter of {}", self.path);
        for &role in roles {
            self.rows.push(Row {
                method: self.method.clone(),
                path: self.path,
                query: self.query,
                args: args.to_vec(),
                body: body.clone(),
                role,
                whose,
                expect,
                field,
                fresh_session: self.fresh_session,
                phase: self.phase,
                shows: Vec::new(),
                hides: Vec::new(),
            });
        }
        self
    }

    /// The replies to `role`'s rows so far must list `shows` and must not list `hides`.
    fn listing(mut self, role: Role, shows: &[&'static str], hides: &[&'static str]) -> Self {
        for row in self.rows.iter_mut().filter(|r| r.role == role) {
            row.shows.extend(shows);
            row.hides.extend(hides);
        }
        self
    }

    /// Everyone, signed in or not, gets `expect`.
    fn everyone(self, args: &[&'static str], expect: Expect) -> Self {
        self.rows(&ALL, NA, args, expect)
    }

    /// A platform read for admins and auditors.
    fn staff_read(self) -> Self {
        self.rows(&[Anonymous], NA, &[], UNAUTHENTICATED).rows(&NON_STAFF, NA, &[], FORBIDDEN).rows(
            &STAFF,
            NA,
            &[],
            ok(200),
        )
    }
}

/// The operations of one area of the API, for the document's tables.
struct Area {
    title: &'static str,
    ops: Vec<Op>,
}

fn area(title: &'static str, ops: Vec<Op>) -> Area {
    Area { title, ops }
}

/// Operations served outside the OpenAPI document; they have rows all the same.
const OUTSIDE_THE_DOCUMENT: &[(&str, &str)] = &[
    // The document itself.
    ("get", "/api/v1/openapi.json"),
    // The Swagger UI page (its three assets are static files under /docs/ as well).
    ("get", "/docs"),
];

// ---- the matrix ---------------------------------------------------------------------------

fn member_body(role: &str) -> Value {
    json!({"email": "{email}", "password": PASSWORD, "display_name": "赵磊", "role": role})
}

fn reason() -> Value {
    json!({"reason": "材料与实际不符"})
}

fn matrix() -> Vec<Area> {
    vec![
        area(
            "Health and documents",
            vec![
                get("/livez").everyone(&[], ok(200)),
                get("/readyz").everyone(&[], ok(200)),
                // With `telemetry.metrics_token` set (as in production): a session is no token.
                get("/metrics")
                    .note("without the bearer token (`telemetry.metrics_token` set)").everyone(&[], UNAUTHENTICATED),
                get("/api/v1/openapi.json").everyone(&[], ok(200)),
                get("/docs").everyone(&[], ok(200)),
            ],
        ),
        area(
            "Public catalog, regions and certificates",
            vec![
                get("/api/v1/regions").everyone(&[], ok(200)),
                get("/api/v1/categories").everyone(&[], ok(200)),
                get("/api/v1/products").everyone(&[], ok(200)),
                // A product under review is not public, not even to its own producer here.
                get("/api/v1/products/{id}")
                    .note("200 listed; 404 under review, even for its producer").everyone(&["goods_a"], ok(200)).everyone(&["pending_keep"], NOT_FOUND),
                get("/api/v1/products/{id}/price-history")
                    .note("200 listed; 404 under review")
                    .everyone(&["goods_a"], ok(200))
                    .everyone(&["pending_keep"], NOT_FOUND),
                get("/api/v1/price-board").query("?category=2").everyone(&[], ok(200)),
                get("/api/v1/producers/{id}").everyone(&["org_prod_a"], ok(200)),
                get("/api/v1/certificates/{code}").everyone(&["certificate"], ok(200)),
                get("/api/v1/certificates/{code}/print").everyone(&["certificate"], ok(200)),
            ],
        ),
        area(
            "Accounts and sessions",
            vec![
                post("/api/v1/auth/register/consumer").json(consumer_body("{email}")).everyone(&[], ok(201)),
                post("/api/v1/auth/register/enterprise")
                    .json(enterprise_body("{email}", "{uscc}"))
                    .everyone(&[], ok(201)),
                post("/api/v1/auth/register/producer").json(producer_body("{email}", "{uscc}")).everyone(&[], ok(201)),
                // Anonymous signs in as a spare consumer; the others as themselves, from a
                // second browser that is signed in already.
                post("/api/v1/auth/login")
                    .note("own credentials, from a browser signed in already; anonymous as a spare consumer")
                    .json(json!({"email": "{self_email}", "password": PASSWORD}))
                    .own_session(Phase::Normal)
                    .everyone(&[], ok(200)),
                post("/api/v1/auth/logout")
                    .note("in a second session of the account")
                    .own_session(Phase::Normal)
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&SIGNED_IN, OWN, &[], ok(204)),
                post("/api/v1/auth/logout-all")
                    .note("in a second session; run last")
                    .own_session(Phase::LogoutAll)
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&SIGNED_IN, OWN, &[], ok(204)),
                get("/api/v1/me").rows(&[Anonymous], NA, &[], UNAUTHENTICATED).rows(&SIGNED_IN, OWN, &[], ok(200)),
                post("/api/v1/me/password")
                    .note("in a second session; run last")
                    .json(json!({"current_password": PASSWORD, "new_password": "changed-in-the-matrix-2026"}))
                    .own_session(Phase::Password)
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&SIGNED_IN, OWN, &[], ok(204)),
            ],
        ),
        area(
            "Organization members",
            vec![
                get("/api/v1/organizations/{id}/members")
                    .rows(&[Anonymous], NA, &["org_ent_a"], UNAUTHENTICATED)
                    .rows(&[Consumer], OTHER, &["org_ent_a"], NOT_FOUND)
                    .rows(&ENTERPRISE, OWN, &["org_ent_a"], ok(200))
                    .rows(&ENTERPRISE, OTHER, &["org_ent_b"], NOT_FOUND)
                    .rows(&PRODUCERS, OWN, &["org_prod_a"], ok(200))
                    .rows(&PRODUCERS, OTHER, &["org_prod_b"], NOT_FOUND)
                    .rows(&STAFF, NA, &["org_ent_b"], ok(200)),
                post("/api/v1/organizations/{id}/members")
                    .note("staff read members of any organization but manage none")
                    .json(member_body("purchaser"))
                    .rows(&[Anonymous], NA, &["org_ent_a"], UNAUTHENTICATED)
                    .rows(&[Consumer], OTHER, &["org_ent_a"], NOT_FOUND)
                    .rows(&ENTERPRISE, OTHER, &["org_ent_b"], NOT_FOUND)
                    .rows(&[Purchaser, Approver], OWN, &["org_ent_a"], FORBIDDEN)
                    .rows(&[EnterpriseOwner], OWN, &["org_ent_a"], ok(201))
                    .rows_with(&PRODUCERS, OTHER, &["org_prod_b"], Body::Json(member_body("staff")), NOT_FOUND, None)
                    .rows_with(&[ProducerStaff], OWN, &["org_prod_a"], Body::Json(member_body("staff")), FORBIDDEN, None)
                    .rows_with(&[ProducerOwner], OWN, &["org_prod_a"], Body::Json(member_body("staff")), ok(201), None)
                    // Staff read members but manage none: as for any non-member, 404.
                    .rows(&STAFF, NA, &["org_ent_b"], NOT_FOUND),
                patch("/api/v1/organizations/{id}/members/{account_id}")
                    .note("owner: other 404 also for a member of another organization under the own one; 409 for the owner")
                    .json(json!({"role": "approver"}))
                    .rows(&[Anonymous], NA, &["org_ent_a", "spare_patch"], UNAUTHENTICATED)
                    .rows(&[Consumer], OTHER, &["org_ent_a", "spare_patch"], NOT_FOUND)
                    .rows(&ENTERPRISE, OTHER, &["org_ent_b", "purchaser_b"], NOT_FOUND)
                    .rows(&[Purchaser, Approver], OWN, &["org_ent_a", "spare_patch"], FORBIDDEN)
                    // The own organization, but a member of another one.
                    .rows(&[EnterpriseOwner], OTHER, &["org_ent_a", "purchaser_b"], NOT_FOUND)
                    .rows(&[EnterpriseOwner], OWN, &["org_ent_a", "owner_a"], no(409, "owner_immutable"))
                    .rows(&[EnterpriseOwner], OWN, &["org_ent_a", "spare_patch"], ok(200))
                    .rows_with(
                        &PRODUCERS,
                        OTHER,
                        &["org_prod_b", "staff_b"],
                        Body::Json(json!({"role": "staff"})),
                        NOT_FOUND,
                        None,
                    )
                    .rows_with(
                        &[ProducerStaff],
                        OWN,
                        &["org_prod_a", "staff_a"],
                        Body::Json(json!({"role": "staff"})),
                        FORBIDDEN,
                        None,
                    )
                    .rows_with(
                        &[ProducerOwner],
                        OWN,
                        &["org_prod_a", "staff_a"],
                        Body::Json(json!({"role": "staff"})),
                        ok(200),
                        None,
                    )
                    .rows(&STAFF, NA, &["org_ent_b", "purchaser_b"], NOT_FOUND),
                delete("/api/v1/organizations/{id}/members/{account_id}")
                    .note("owner: other 404 also for a member of another organization under the own one; 409 for the owner")
                    .rows(&[Anonymous], NA, &["org_ent_a", "spare_remove"], UNAUTHENTICATED)
                    .rows(&[Consumer], OTHER, &["org_ent_a", "spare_remove"], NOT_FOUND)
                    .rows(&ENTERPRISE, OTHER, &["org_ent_b", "purchaser_b"], NOT_FOUND)
                    .rows(&[Purchaser, Approver], OWN, &["org_ent_a", "spare_remove"], FORBIDDEN)
                    .rows(&[EnterpriseOwner], OTHER, &["org_ent_a", "purchaser_b"], NOT_FOUND)
                    .rows(&[EnterpriseOwner], OWN, &["org_ent_a", "owner_a"], no(409, "owner_immutable"))
                    .rows(&[EnterpriseOwner], OWN, &["org_ent_a", "spare_remove"], ok(204))
                    .rows(&PRODUCERS, OTHER, &["org_prod_b", "staff_b"], NOT_FOUND)
                    .rows(&[ProducerStaff], OWN, &["org_prod_a", "spare_staff"], FORBIDDEN)
                    .rows(&[ProducerOwner], OWN, &["org_prod_a", "spare_staff"], ok(204))
                    .rows(&STAFF, NA, &["org_ent_b", "purchaser_b"], NOT_FOUND),
            ],
        ),
        area(
            "A producer's own products",
            vec![
                get("/api/v1/producer/products")
                    .query("?limit=100")
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &[], FORBIDDEN)
                    .rows(&PRODUCERS, OWN, &[], ok(200))
                    .listing(ProducerOwner, &["goods_a", "draft_a"], &["goods_b", "product_b", "draft_b"])
                    .listing(ProducerStaff, &["goods_a", "draft_a"], &["goods_b", "product_b", "draft_b"]),
                post("/api/v1/producer/products")
                    .json(product_body("静宁苹果", 1000))
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &[], FORBIDDEN)
                    .rows(&PRODUCERS, OWN, &[], ok(201)),
                get("/api/v1/producer/products/{id}")
                    .rows(&[Anonymous], NA, &["goods_a"], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &["goods_a"], FORBIDDEN)
                    .rows(&PRODUCERS, OTHER, &["product_b"], NOT_FOUND)
                    .rows(&PRODUCERS, OWN, &["goods_a"], ok(200)),
                patch("/api/v1/producer/products/{id}")
                    .note("422: `status` or `producer_active` in the body (mass assignment), own or other")
                    .json(json!({"stock": 77}))
                    .rows(&[Anonymous], NA, &["product_keep"], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &["product_keep"], FORBIDDEN)
                    .rows(&PRODUCERS, OTHER, &["product_b"], NOT_FOUND)
                    // Mass assignment: status and the producer's standing are not fields of a
                    // product edit. The body is refused before the product is looked up, so
                    // another producer's product answers the same and nothing leaks.
                    .rows_with(
                        &PRODUCERS,
                        OWN,
                        &["product_keep"],
                        Body::Json(json!({"status": "draft"})),
                        no(422, "validation_failed"),
                        Some("status"),
                    )
                    .rows_with(
                        &PRODUCERS,
                        OWN,
                        &["product_keep"],
                        Body::Json(json!({"producer_active": false})),
                        no(422, "validation_failed"),
                        Some("producer_active"),
                    )
                    .rows_with(
                        &PRODUCERS,
                        OTHER,
                        &["product_b"],
                        Body::Json(json!({"status": "listed", "stock": 1})),
                        no(422, "validation_failed"),
                        Some("status"),
                    )
                    .rows_with(&[Admin], NA, &["product_keep"], Body::Json(json!({"status": "delisted"})), FORBIDDEN, None)
                    .rows(&PRODUCERS, OWN, &["product_edit"], ok(200)),
                post("/api/v1/producer/products/{id}/submit")
                    .note("409: the product the other role submitted")
                    .rows(&[Anonymous], NA, &["draft_b"], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &["draft_b"], FORBIDDEN)
                    .rows(&PRODUCERS, OTHER, &["draft_b"], NOT_FOUND)
                    .rows(&[ProducerOwner], OWN, &["draft_a"], ok(200))
                    .rows(&[ProducerStaff], OWN, &["draft_a"], INVALID_TRANSITION),
                post("/api/v1/producer/products/{id}/delist")
                    .note("409: the product the other role delisted")
                    .rows(&[Anonymous], NA, &["product_b"], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &["product_b"], FORBIDDEN)
                    .rows(&PRODUCERS, OTHER, &["product_b"], NOT_FOUND)
                    .rows(&[ProducerStaff], OWN, &["product_delist"], ok(200))
                    .rows(&[ProducerOwner], OWN, &["product_delist"], INVALID_TRANSITION),
                put("/api/v1/producer/products/{id}/prices")
                    .json(json!({"tiers": [{"min_qty": 1, "unit_price_fen": 1100}], "reason": "运费上涨"}))
                    .rows(&[Anonymous], NA, &["product_b"], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &["product_b"], FORBIDDEN)
                    .rows(&PRODUCERS, OTHER, &["product_b"], NOT_FOUND)
                    .rows(&PRODUCERS, OWN, &["product_price"], ok(200)),
                put("/api/v1/producer/products/{id}/stock")
                    .json(json!({"stock": 500}))
                    .rows(&[Anonymous], NA, &["product_b"], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &["product_b"], FORBIDDEN)
                    .rows(&PRODUCERS, OTHER, &["product_b"], NOT_FOUND)
                    .rows(&PRODUCERS, OWN, &["product_price"], ok(200)),
                get("/api/v1/producer/sales")
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &[], FORBIDDEN)
                    .rows(&PRODUCERS, OWN, &[], ok(200))
                    .listing(ProducerOwner, &["goods_a"], &["goods_b"])
                    .listing(ProducerStaff, &["goods_a"], &["goods_b"]),
            ],
        ),
        area(
            "Catalog review (admin)",
            vec![
                get("/api/v1/admin/listings").staff_read(),
                post("/api/v1/admin/products/{id}/approve")
                    .rows(&[Anonymous], NA, &["pending_keep"], UNAUTHENTICATED)
                    .rows(&BUYERS, NA, &["pending_keep"], FORBIDDEN)
                    .rows(&PRODUCERS, OWN, &["pending_keep"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["pending_keep"], FORBIDDEN)
                    .rows(&[Admin], NA, &["pending_1"], ok(200)),
                post("/api/v1/admin/products/{id}/reject")
                    .json(reason())
                    .rows(&[Anonymous], NA, &["pending_keep"], UNAUTHENTICATED)
                    .rows(&BUYERS, NA, &["pending_keep"], FORBIDDEN)
                    .rows(&PRODUCERS, OWN, &["pending_keep"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["pending_keep"], FORBIDDEN)
                    .rows(&[Admin], NA, &["pending_2"], ok(200)),
                post("/api/v1/admin/products/{id}/certification/verify")
                    .rows(&[Anonymous], NA, &["cert_keep"], UNAUTHENTICATED)
                    .rows(&BUYERS, NA, &["cert_keep"], FORBIDDEN)
                    .rows(&PRODUCERS, OWN, &["cert_keep"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["cert_keep"], FORBIDDEN)
                    .rows(&[Admin], NA, &["cert_1"], ok(200)),
                post("/api/v1/admin/products/{id}/certification/revoke")
                    .rows(&[Anonymous], NA, &["cert_keep"], UNAUTHENTICATED)
                    .rows(&BUYERS, NA, &["cert_keep"], FORBIDDEN)
                    .rows(&PRODUCERS, OWN, &["cert_keep"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["cert_keep"], FORBIDDEN)
                    .rows(&[Admin], NA, &["cert_2"], ok(200)),
                get("/api/v1/admin/price-alerts").staff_read(),
                post("/api/v1/admin/price-alerts/{id}/resolve")
                    .json(json!({"note": "已核实"}))
                    .rows(&[Anonymous], NA, &["alert_keep"], UNAUTHENTICATED)
                    .rows(&BUYERS, NA, &["alert_keep"], FORBIDDEN)
                    .rows(&PRODUCERS, OWN, &["alert_keep"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["alert_keep"], FORBIDDEN)
                    .rows(&[Admin], NA, &["alert_1"], ok(200)),
            ],
        ),
        area(
            "Organizations (admin)",
            vec![
                get("/api/v1/admin/organizations").staff_read(),
                post("/api/v1/admin/organizations/{id}/verify")
                    .rows(&[Anonymous], NA, &["org_keep"], UNAUTHENTICATED)
                    .rows(&NON_STAFF, NA, &["org_keep"], FORBIDDEN)
                    .rows(&[EnterpriseOwner], OWN, &["org_ent_a"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["org_keep"], FORBIDDEN)
                    .rows(&[Admin], NA, &["org_pending_1"], ok(200)),
                post("/api/v1/admin/organizations/{id}/reject")
                    .json(reason())
                    .rows(&[Anonymous], NA, &["org_keep"], UNAUTHENTICATED)
                    .rows(&NON_STAFF, NA, &["org_keep"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["org_keep"], FORBIDDEN)
                    .rows(&[Admin], NA, &["org_pending_2"], ok(200)),
                post("/api/v1/admin/organizations/{id}/suspend")
                    .json(reason())
                    .rows(&[Anonymous], NA, &["org_ent_b"], UNAUTHENTICATED)
                    .rows(&NON_STAFF, OTHER, &["org_ent_b"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["org_ent_b"], FORBIDDEN)
                    .rows(&[Admin], NA, &["org_spare"], ok(200)),
            ],
        ),
        area(
            "Cart and orders",
            vec![
                get("/api/v1/cart")
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&BUYERS, OWN, &[], ok(200))
                    .rows(&NOT_BUYING, NA, &[], FORBIDDEN),
                put("/api/v1/cart/items/{product_id}")
                    .note("404: a product under review, not public")
                    .json(json!({"qty": 2}))
                    .rows(&[Anonymous], NA, &["goods_a"], UNAUTHENTICATED)
                    .rows(&BUYERS, OWN, &["goods_a"], ok(200))
                    .rows(&BUYERS, NA, &["pending_keep"], NOT_FOUND)
                    .rows(&NOT_BUYING, NA, &["goods_a"], FORBIDDEN),
                delete("/api/v1/cart/items/{product_id}")
                    .rows(&[Anonymous], NA, &["goods_a"], UNAUTHENTICATED)
                    .rows(&BUYERS, OWN, &["goods_a"], ok(200))
                    .rows(&NOT_BUYING, NA, &["goods_a"], FORBIDDEN),
                post("/api/v1/orders")
                    .note("422: a line of a product under review")
                    .json(order_body_of("goods_a"))
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&BUYERS, OWN, &[], ok(201))
                    .rows_with(&BUYERS, NA, &[], Body::Json(order_body_of("pending_keep")), no(422, "invalid_lines"), None)
                    .rows(&NOT_BUYING, NA, &[], FORBIDDEN),
                post("/api/v1/orders/bulk")
                    .csv("product_id,qty\n{goods_a},1\n")
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&[Consumer], NA, &[], FORBIDDEN)
                    .rows(&ENTERPRISE, OWN, &[], ok(201))
                    .rows(&NOT_BUYING, NA, &[], FORBIDDEN),
                get("/api/v1/orders")
                    .query("?limit=100")
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&BUYERS, OWN, &[], ok(200))
                    .listing(Consumer, &["c_order"], &["cb_order", "ea_awaiting", "eb_awaiting"])
                    .listing(EnterpriseOwner, &["ea_awaiting", "ea_pay"], &["eb_awaiting", "eb_shipped", "c_order"])
                    .listing(Approver, &["ea_awaiting", "ea_pay"], &["eb_awaiting", "eb_shipped", "c_order"])
                    .listing(Purchaser, &["ea_awaiting"], &["ea_pay", "eb_awaiting", "c_order"])
                    .rows(&NOT_BUYING, NA, &[], FORBIDDEN),
                get("/api/v1/orders/{id}")
                    .rows(&[Anonymous], NA, &["c_order"], UNAUTHENTICATED)
                    .rows(&[Consumer], OWN, &["c_order"], ok(200))
                    .rows(&[Consumer], OTHER, &["cb_order"], NOT_FOUND)
                    .rows(&ENTERPRISE, OWN, &["ea_awaiting"], ok(200))
                    .rows(&[Purchaser], COLLEAGUE, &["ea_pay"], NOT_FOUND)
                    .rows(&ENTERPRISE, OTHER, &["eb_awaiting"], NOT_FOUND)
                    .rows(&NOT_BUYING, NA, &["c_order"], FORBIDDEN),
                post("/api/v1/orders/{id}/cancel")
                    .note("409: the order the owner cancelled")
                    .rows(&[Anonymous], NA, &["cb_order"], UNAUTHENTICATED)
                    .rows(&[Consumer], OTHER, &["cb_order"], NOT_FOUND)
                    .rows(&[Consumer], OWN, &["c_cancel"], ok(200))
                    .rows(&ENTERPRISE, OTHER, &["eb_awaiting"], NOT_FOUND)
                    .rows(&[Purchaser], COLLEAGUE, &["ea_pay"], NOT_FOUND)
                    .rows(&[EnterpriseOwner], OWN, &["ea_cancel"], ok(200))
                    .rows(&[Purchaser, Approver], OWN, &["ea_cancel"], INVALID_TRANSITION)
                    .rows(&NOT_BUYING, NA, &["cb_order"], FORBIDDEN),
                post("/api/v1/orders/{id}/approve")
                    .note("409: the order the owner approved")
                    .json(json!({"note": "同意"}))
                    .rows(&[Anonymous], NA, &["ea_awaiting"], UNAUTHENTICATED)
                    .rows(&[Consumer], OTHER, &["ea_awaiting"], NOT_FOUND)
                    .rows(&ENTERPRISE, OTHER, &["eb_awaiting"], NOT_FOUND)
                    .rows(&[Purchaser], OWN, &["ea_awaiting"], FORBIDDEN)
                    .rows(&[EnterpriseOwner], OWN, &["ea_approve"], ok(200))
                    .rows(&[Approver], OWN, &["ea_approve"], INVALID_TRANSITION)
                    .rows(&NOT_BUYING, NA, &["eb_awaiting"], FORBIDDEN),
                post("/api/v1/orders/{id}/reject")
                    .note("409: the order the approver rejected")
                    .json(json!({"note": "预算不足"}))
                    .rows(&[Anonymous], NA, &["ea_awaiting"], UNAUTHENTICATED)
                    .rows(&[Consumer], OTHER, &["ea_awaiting"], NOT_FOUND)
                    .rows(&ENTERPRISE, OTHER, &["eb_awaiting"], NOT_FOUND)
                    .rows(&[Purchaser], OWN, &["ea_awaiting"], FORBIDDEN)
                    .rows(&[Approver], OWN, &["ea_reject"], ok(200))
                    .rows(&[EnterpriseOwner], OWN, &["ea_reject"], INVALID_TRANSITION)
                    .rows(&NOT_BUYING, NA, &["eb_awaiting"], FORBIDDEN),
                post("/api/v1/orders/{id}/groups/{group_id}/confirm-receipt")
                    .note("other 404 also for the own order with another order's group; consumer 409: not shipped yet")
                    .rows(&[Anonymous], NA, &["eb_shipped", "eb_shipped_group"], UNAUTHENTICATED)
                    .rows(&[Consumer], OTHER, &["eb_shipped", "eb_shipped_group"], NOT_FOUND)
                    // Past authorization: the consumer's own group is not shipped yet.
                    .rows(&[Consumer], OWN, &["c_order", "c_order_group"], INVALID_TRANSITION)
                    .rows(&ENTERPRISE, OTHER, &["eb_shipped", "eb_shipped_group"], NOT_FOUND)
                    // The own order, with another buyer's group.
                    .rows(&[EnterpriseOwner], OTHER, &["ea_shipped", "eb_shipped_group"], NOT_FOUND)
                    .rows(&[Purchaser], COLLEAGUE, &["ea_shipped", "ea_shipped_group_a"], NOT_FOUND)
                    .rows(&[EnterpriseOwner], OWN, &["ea_shipped", "ea_shipped_group_a"], ok(200))
                    .rows(&[Approver], OWN, &["ea_shipped", "ea_shipped_group_b"], ok(200))
                    .rows(&NOT_BUYING, NA, &["eb_shipped", "eb_shipped_group"], FORBIDDEN),
                put("/api/v1/enterprise/settings")
                    .json(json!({"approval_threshold_fen": 5000}))
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&[Consumer], NA, &[], FORBIDDEN)
                    .rows(&[Purchaser, Approver], OWN, &[], FORBIDDEN)
                    .rows(&[EnterpriseOwner], OWN, &[], ok(200))
                    .rows(&NOT_BUYING, NA, &[], FORBIDDEN),
                get("/api/v1/producer/order-groups")
                    .query("?limit=100")
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &[], FORBIDDEN)
                    .rows(&PRODUCERS, OWN, &[], ok(200))
                    .listing(ProducerOwner, &["ea_paid_group_a", "eb_shipped_group"], &["ea_paid_group_b", "ea_shipped_group_b"])
                    .listing(ProducerStaff, &["ea_paid_group_a", "eb_shipped_group"], &["ea_paid_group_b", "ea_shipped_group_b"]),
                post("/api/v1/producer/order-groups/{id}/ship")
                    .note("409: the group the owner shipped")
                    .json(json!({"carrier": "顺丰", "tracking_no": "SF1000"}))
                    .rows(&[Anonymous], NA, &["ea_paid_group_a"], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &["ea_paid_group_a"], FORBIDDEN)
                    .rows(&PRODUCERS, OTHER, &["ea_paid_group_b"], NOT_FOUND)
                    .rows(&[ProducerOwner], OWN, &["ea_paid_group_a"], ok(200))
                    .rows(&[ProducerStaff], OWN, &["ea_paid_group_a"], INVALID_TRANSITION),
                get("/api/v1/admin/orders").staff_read(),
            ],
        ),
        area(
            "Payments and refunds",
            vec![
                post("/api/v1/orders/{id}/payments")
                    .note("consumer: own 403 by bank transfer (cards only), 409 for a cancelled order")
                    .json(json!({"method": "bank_transfer"}))
                    .rows(&[Anonymous], NA, &["c_order"], UNAUTHENTICATED)
                    .rows(&[Consumer], OTHER, &["cb_order"], NOT_FOUND)
                    // Consumers pay by card; a bank transfer is for enterprises.
                    .rows(&[Consumer], OWN, &["c_order"], FORBIDDEN)
                    .rows_with(
                        &[Consumer],
                        OWN,
                        &["c_cancelled"],
                        Body::Json(json!({"method": "stripe"})),
                        no(409, "order_not_payable"),
                        None,
                    )
                    .rows(&ENTERPRISE, OTHER, &["eb_awaiting"], NOT_FOUND)
                    .rows(&[Purchaser], COLLEAGUE, &["ea_pay"], NOT_FOUND)
                    .rows(&[EnterpriseOwner], OWN, &["ea_pay"], ok(201))
                    .rows(&[Purchaser, Approver], OWN, &["ea_purchaser_pay"], ok(201))
                    .rows(&NOT_BUYING, NA, &["c_order"], FORBIDDEN),
                // Authenticated by Stripe's signature, not by a session.
                post("/api/v1/payments/stripe/webhook")
                    .note("without a `Stripe-Signature`").json(json!({})).everyone(&[], no(400, "invalid_signature")),
                post("/api/v1/admin/bank-transfers/{order_id}/confirm")
                    .json(json!({"amount_fen": "{#ea_transfer_total}", "bank_reference": "{reference}", "received_at": "{today}"}))
                    .rows(&[Anonymous], NA, &["ea_transfer"], UNAUTHENTICATED)
                    .rows(&[EnterpriseOwner], OWN, &["ea_transfer"], FORBIDDEN)
                    .rows(&[Consumer, Purchaser, Approver, ProducerOwner, ProducerStaff], NA, &["ea_transfer"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["ea_transfer"], FORBIDDEN)
                    .rows(&[Admin], NA, &["ea_transfer"], ok(200)),
                post("/api/v1/admin/orders/{id}/refunds")
                    .json(json!({"full": true, "reason": "企业取消采购"}))
                    .rows(&[Anonymous], NA, &["ea_refundable"], UNAUTHENTICATED)
                    .rows(&ENTERPRISE, OWN, &["ea_refundable"], FORBIDDEN)
                    .rows(&[Consumer, ProducerOwner, ProducerStaff], NA, &["ea_refundable"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["ea_refundable"], FORBIDDEN)
                    .rows(&[Admin], NA, &["ea_refundable"], ok(201)),
                post("/api/v1/producer/order-groups/{id}/refunds")
                    .note("other 422: another producer's `group_id` or line in the body of the own group's refund; 409: the group the owner refunded")
                    .json(json!({"full": true, "reason": "缺货"}))
                    .rows(&[Anonymous], NA, &["ea_paid2_group_a"], UNAUTHENTICATED)
                    .rows(&NON_PRODUCERS, NA, &["ea_paid2_group_a"], FORBIDDEN)
                    .rows(&PRODUCERS, OTHER, &["ea_paid2_group_b"], NOT_FOUND)
                    // Another producer's group or line of the same order, named in the body of
                    // a refund of the own group.
                    .rows_with(
                        &PRODUCERS,
                        OTHER,
                        &["ea_paid2_group_a"],
                        Body::Json(json!({"full": true, "group_id": "{ea_paid2_group_b}", "reason": "缺货"})),
                        no(422, "validation_failed"),
                        Some("group_id"),
                    )
                    .rows_with(
                        &PRODUCERS,
                        OTHER,
                        &["ea_paid2_group_a"],
                        Body::Json(json!({"lines": [{"line_id": "{ea_paid2_line_b}", "qty": 1}], "reason": "缺货"})),
                        no(422, "invalid_lines"),
                        None,
                    )
                    .rows(&[ProducerOwner], OWN, &["ea_paid2_group_a"], ok(201))
                    .rows(&[ProducerStaff], OWN, &["ea_paid2_group_a"], no(409, "nothing_to_refund")),
                get("/api/v1/orders/{id}/refunds")
                    .rows(&[Anonymous], NA, &["c_order"], UNAUTHENTICATED)
                    .rows(&[Consumer], OWN, &["c_order"], ok(200))
                    .rows(&[Consumer], OTHER, &["cb_order"], NOT_FOUND)
                    .rows(&ENTERPRISE, OWN, &["ea_awaiting"], ok(200))
                    .rows(&[Purchaser], COLLEAGUE, &["ea_pay"], NOT_FOUND)
                    .rows(&ENTERPRISE, OTHER, &["eb_awaiting"], NOT_FOUND)
                    .rows(&NOT_BUYING, NA, &["c_order"], FORBIDDEN),
                post("/api/v1/admin/refunds/{id}/complete")
                    .json(json!({"bank_reference": "{reference}"}))
                    .rows(&[Anonymous], NA, &["refund_pending"], UNAUTHENTICATED)
                    .rows(&ENTERPRISE, OWN, &["refund_pending"], FORBIDDEN)
                    .rows(&[Consumer, ProducerOwner, ProducerStaff], NA, &["refund_pending"], FORBIDDEN)
                    .rows(&[Auditor], NA, &["refund_pending"], FORBIDDEN)
                    .rows(&[Admin], NA, &["refund_pending"], ok(200)),
                get("/api/v1/admin/payments").staff_read(),
                get("/api/v1/admin/refunds").staff_read(),
                get("/api/v1/admin/ledger").staff_read(),
            ],
        ),
        area(
            "Enterprise assistance",
            vec![
                get("/api/v1/enterprise/assistance")
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&ENTERPRISE, OWN, &[], ok(200))
                    .rows(&[Consumer, ProducerOwner, ProducerStaff, Admin, Auditor], NA, &[], FORBIDDEN),
                put("/api/v1/enterprise/assistance/target")
                    .json(json!({"year": "{#year}", "amount_fen": 1_000_000}))
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&[EnterpriseOwner], OWN, &[], ok(200))
                    .rows(&[Purchaser, Approver], OWN, &[], FORBIDDEN)
                    .rows(&[Consumer, ProducerOwner, ProducerStaff, Admin, Auditor], NA, &[], FORBIDDEN),
                post("/api/v1/enterprise/assistance/certificates")
                    .json(json!({"year": "{#year}"}))
                    .rows(&[Anonymous], NA, &[], UNAUTHENTICATED)
                    .rows(&[EnterpriseOwner, Approver], OWN, &[], ok(201))
                    .rows(&[Purchaser], OWN, &[], FORBIDDEN)
                    .rows(&[Consumer, ProducerOwner, ProducerStaff, Admin, Auditor], NA, &[], FORBIDDEN),
            ],
        ),
        area(
            "Tallies, exports and audit (admins and auditors)",
            vec![
                get("/api/v1/admin/tallies").query("?group_by=county").staff_read(),
                get("/api/v1/admin/tallies/summary").staff_read(),
                get("/api/v1/admin/reconciliation").staff_read(),
                get("/api/v1/admin/targets").staff_read(),
                get("/api/v1/admin/anomalies").staff_read(),
                get("/api/v1/admin/exports/tallies.csv").query("?from=2026-01-01&to=2026-12-31&group_by=county").staff_read(),
                get("/api/v1/admin/exports/tallies.xlsx")
                    .query("?from=2026-01-01&to=2026-12-31&group_by=county")
                    .staff_read(),
                get("/api/v1/admin/exports/ledger.csv").query("?from=2026-01-01&to=2026-12-31").staff_read(),
                get("/api/v1/admin/exports/ledger.xlsx").query("?from=2026-01-01&to=2026-12-31").staff_read(),
                get("/api/v1/admin/audit-log").staff_read(),
                get("/api/v1/admin/audit-log/verify").staff_read(),
            ],
        ),
    ]
}

fn order_body_of(product: &str) -> Value {
    let mut body = order_body(&[]);
    body["lines"] = json!([{"product_id": format!("{{{product}}}"), "qty": 1}]);
    body
}

fn all_rows(areas: &[Area]) -> Vec<Row> {
    let mut rows: Vec<Row> = areas.iter().flat_map(|a| a.ops.iter().flat_map(|o| o.rows.iter().cloned())).collect();
    // Session-ending operations last; otherwise in the order written (stable sort).
    rows.sort_by_key(|r| r.phase);
    rows
}

// ---- the world ----------------------------------------------------------------------------

const METRICS_TOKEN: &str = "a-metrics-token-that-no-session-carries-0123456789";

/// The fixture: signed-in actors per role, and object ids by key.
struct World {
    app: TestApp,
    actors: BTreeMap<Role, (Client, String)>,
    /// Whom anonymous signs in as, in the login rows.
    spare_email: String,
    ids: BTreeMap<&'static str, String>,
}

impl World {
    fn id(&self, key: &str) -> &str {
        self.ids.get(key).unwrap_or_else(|| panic!("no fixture object {key}"))
    }

    fn email_of(&self, role: Role) -> &str {
        match role {
            Anonymous => &self.spare_email,
            _ => &self.actors[&role].1,
        }
    }

    /// Fills `{key}` placeholders in a string.
    fn fill(&self, text: &str, role: Role) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else { break };
            out.push_str(&rest[..start]);
            let key = &rest[start + 1..start + len];
            out.push_str(&match key {
                "email" => unique_email("authz"),
                "uscc" => valid_uscc(),
                "self_email" => self.email_of(role).to_string(),
                "reference" => format!("AUTHZ-{}", Uuid::now_v7().simple()),
                "today" => chrono::Utc::now().date_naive().to_string(),
                _ => self.id(key).to_string(),
            });
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Fills placeholders in a JSON body; `"{#key}"` becomes the number the key names.
    fn fill_json(&self, value: &Value, role: Role) -> Value {
        match value {
            Value::String(s) if s.starts_with("{#") && s.ends_with('}') => {
                let key = &s[2..s.len() - 1];
                let n: i64 = self.id(key).parse().unwrap_or_else(|_| panic!("{key} is not a number"));
                json!(n)
            }
            Value::String(s) => Value::String(self.fill(s, role)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.fill_json(v, role)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.fill_json(v, role))).collect())
            }
            other => other.clone(),
        }
    }

    fn path_of(&self, row: &Row) -> String {
        let mut path = String::new();
        let mut args = row.args.iter();
        for (i, segment) in row.path.split('/').enumerate() {
            if i > 0 {
                path.push('/');
            }
            if segment.starts_with('{') {
                path.push_str(self.id(args.next().expect("an argument per parameter")));
            } else {
                path.push_str(segment);
            }
        }
        path
    }

    /// The browser a row is sent from.
    async fn client_for(&self, row: &Row) -> Client {
        match row.role {
            Anonymous => new_client(),
            role if row.fresh_session => self.app.sign_in(self.email_of(role)).await.client,
            role => self.actors[&role].0.clone(),
        }
    }

    /// Sends the row's request; the difference from what it expects, if any.
    async fn check(&self, row: &Row) -> Option<String> {
        let client = self.client_for(row).await;
        let url = format!("{}{}{}", self.app.address, self.path_of(row), row.query);
        let mut request = client.request(row.method.clone(), &url);
        if row.method != Method::GET {
            request = request.header("idempotency-key", Uuid::now_v7().to_string());
        }
        request = match &row.body {
            Body::None => request,
            Body::Json(body) => request.json(&self.fill_json(body, row.role)),
            Body::Csv(csv) => request.header("content-type", "text/csv").body(self.fill(csv, row.role)),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let bytes = response.bytes().await.unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let problem: Option<Value> =
            content_type.starts_with("application/problem+json").then(|| serde_json::from_slice(&bytes).ok()).flatten();
        let code = problem.as_ref().and_then(|p| p["code"].as_str()).map(str::to_string);
        let (want_status, want_code) = row.expect;
        let mut wrong = status != want_status;
        if let Some(want_code) = want_code {
            wrong |= code.as_deref() != Some(want_code);
            if let Some(field) = row.field {
                wrong |= problem.as_ref().and_then(|p| p["errors"].get(field)).is_none();
            }
        }
        let mut listing = Vec::new();
        if !wrong && status < 300 {
            for key in &row.shows {
                if !text.contains(self.id(key)) {
                    listing.push(format!("does not list {key}"));
                }
            }
            for key in &row.hides {
                if text.contains(self.id(key)) {
                    listing.push(format!("lists {key}"));
                }
            }
        }
        if !wrong && listing.is_empty() {
            return None;
        }
        if !listing.is_empty() {
            return Some(format!("{row}: the reply {}", listing.join(", ")));
        }
        let want = match (want_code, row.field) {
            (Some(c), Some(f)) => format!("{want_status} {c} (on {f})"),
            (Some(c), None) => format!("{want_status} {c}"),
            (None, _) => format!("{want_status}"),
        };
        let got = match &problem {
            Some(p) => format!("{status} {}", p),
            None => format!("{status} {}", text.chars().take(200).collect::<String>()),
        };
        Some(format!("{row}: expected {want}, got {got}"))
    }
}

/// Places an order as `who`, which must be placed.
async fn order(app: &TestApp, who: &impl Actor, lines: &[(Uuid, i64)]) -> Order {
    app.as_(who).place_order(lines).await
}

/// Starts a bank transfer of `order` as `who`; it must start.
async fn start_transfer(app: &TestApp, who: &impl Actor, order: Uuid) {
    let r = who
        .client()
        .post(app.url(&format!("/api/v1/orders/{order}/payments")))
        .header("idempotency-key", Uuid::now_v7().to_string())
        .json(&json!({"method": "bank_transfer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "starting a bank transfer: {}", r.text().await.unwrap());
}

/// An order of `who`'s, paid by a bank transfer that the admin confirmed.
async fn paid_order(app: &TestApp, who: &impl Actor, lines: &[(Uuid, i64)]) -> Order {
    let placed = order(app, who, lines).await;
    assert_eq!(placed.status, "pending_payment");
    start_transfer(app, who, placed.id).await;
    let body = json!({
        "amount_fen": placed.total_fen,
        "bank_reference": format!("IN-{}", Uuid::now_v7().simple()),
        "received_at": chrono::Utc::now().date_naive().to_string(),
    });
    let r =
        app.as_(app.admin().await).post(&format!("/api/v1/admin/bank-transfers/{}/confirm", placed.id), &body).await;
    assert_eq!(r.status(), 200, "confirming a bank transfer: {}", r.text().await.unwrap());
    placed
}

async fn ship(app: &TestApp, producer: &impl Actor, group: Uuid) {
    assert_eq!(app.as_(producer).ship(group, "顺丰", "SF0001").await.status(), 200, "shipping");
}

/// A member's account id, added by `owner` without signing in.
async fn spare_member(app: &TestApp, owner: &Owner, role: &str) -> Uuid {
    let (_, body) = crate::helpers::member_body(role);
    let r = app.as_(owner).post_member(owner.org, &body).await;
    assert_eq!(r.status(), 201);
    let member: Value = r.json().await.unwrap();
    id_at(&member, "/account_id")
}

fn certified_body() -> Value {
    let mut body = product_body("定西马铃薯", 800);
    body["certification"] = json!({
        "number": "甘帮认〔2026〕0001", "issuer": "甘肃省农业农村厅",
        "valid_from": "2026-01-01", "valid_until": "2027-12-31"
    });
    body
}

async fn world() -> World {
    let app = TestApp::spawn_with(|s| {
        s.orders.jobs_enabled = false;
        s.telemetry.metrics_token = Some(SecretString::from(METRICS_TOKEN));
    })
    .await;
    let admin = app.admin().await.clone();
    let auditor = app.staff(AccountRole::Auditor).await;
    let consumer = app.consumer().await;
    let consumer_b = app.consumer().await;
    let spare = app.consumer().await;
    let ent_a = app.verified_enterprise().await;
    let purchaser = app.as_(&ent_a).add_member(ent_a.org, "purchaser").await;
    let approver = app.as_(&ent_a).add_member(ent_a.org, "approver").await;
    let ent_b = app.verified_enterprise().await;
    let purchaser_b = app.as_(&ent_b).add_member(ent_b.org, "purchaser").await;
    let prod_a = app.verified_producer().await;
    let staff_a = app.as_(&prod_a).add_member(prod_a.org, "staff").await;
    let prod_b = app.verified_producer().await;
    let staff_b = spare_member(&app, &prod_b, "staff").await;
    let org_spare = app.verified_producer().await;
    let org_keep = app.organization("enterprise").await;
    let org_pending_1 = app.organization("enterprise").await;
    let org_pending_2 = app.organization("producer").await;

    let mut ids: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut put = |key: &'static str, id: Uuid| {
        ids.insert(key, id.to_string());
    };
    put("org_ent_a", ent_a.org);
    put("org_ent_b", ent_b.org);
    put("org_prod_a", prod_a.org);
    put("org_prod_b", prod_b.org);
    put("org_spare", org_spare.org);
    put("org_keep", org_keep.org);
    put("org_pending_1", org_pending_1.org);
    put("org_pending_2", org_pending_2.org);
    put("owner_a", ent_a.id);
    put("purchaser_b", purchaser_b.id);
    put("staff_a", staff_a.id);
    put("staff_b", staff_b);
    put("spare_patch", spare_member(&app, &ent_a, "purchaser").await);
    put("spare_remove", spare_member(&app, &ent_a, "purchaser").await);
    put("spare_staff", spare_member(&app, &prod_a, "staff").await);

    // Products.
    let goods_a = app.stocked_product(&prod_a, 100_000, 1000).await;
    let goods_b = app.stocked_product(&prod_b, 100_000, 1000).await;
    put("goods_a", goods_a);
    put("goods_b", goods_b);
    put("product_b", app.stocked_product(&prod_b, 100, 1000).await);
    put("product_keep", app.stocked_product(&prod_a, 100, 1000).await);
    put("product_edit", app.stocked_product(&prod_a, 100, 1000).await);
    put("product_delist", app.stocked_product(&prod_a, 100, 1000).await);
    put("product_price", app.stocked_product(&prod_a, 100, 1000).await);
    put("draft_a", app.create_product(&prod_a, &product_body("静宁苹果", 1000)).await);
    put("draft_b", app.create_product(&prod_b, &product_body("静宁苹果", 1000)).await);
    for key in ["pending_keep", "pending_1", "pending_2"] {
        let id = app.create_product(&prod_a, &product_body("静宁苹果", 1000)).await;
        assert_eq!(app.as_(&prod_a).submit(id).await.status(), 200);
        put(key, id);
    }
    for key in ["cert_keep", "cert_1", "cert_2"] {
        put(key, app.create_product(&prod_a, &certified_body()).await);
    }
    // Two price alerts: each raise far above the product's 30-day low raises one.
    let alerted = app.stocked_product(&prod_a, 100, 1000).await;
    for price in [5000, 6000] {
        assert_eq!(app.as_(&prod_a).set_price(alerted, &[(1, price)]).await.status(), 200);
    }
    let alerts: Vec<Uuid> = sqlx::query_scalar("select id from price_alerts where product_id = $1 order by id")
        .bind(alerted)
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(alerts.len() >= 2, "two price alerts: {alerts:?}");
    put("alert_keep", alerts[0]);
    put("alert_1", alerts[1]);

    // Orders. Purchasers' orders from 5,000 fen wait for an approver.
    assert_eq!(app.as_(&ent_a).set_approval_threshold(5000).await.status(), 200);
    assert_eq!(app.as_(&ent_b).set_approval_threshold(5000).await.status(), 200);
    let small = [(goods_a, 1)];
    let c_order = order(&app, &consumer, &small).await;
    put("c_order", c_order.id);
    put("c_order_group", c_order.groups[0].id);
    put("c_cancel", order(&app, &consumer, &small).await.id);
    let c_cancelled = order(&app, &consumer, &small).await;
    assert_eq!(app.as_(&consumer).cancel(c_cancelled.id).await.status(), 200);
    put("c_cancelled", c_cancelled.id);
    put("cb_order", order(&app, &consumer_b, &small).await.id);
    for key in ["ea_awaiting", "ea_approve", "ea_reject"] {
        let o = order(&app, &purchaser, &[(goods_a, 10)]).await;
        assert_eq!(o.status, "awaiting_approval");
        put(key, o.id);
    }
    let eb_awaiting = order(&app, &purchaser_b, &[(goods_b, 10)]).await;
    assert_eq!(eb_awaiting.status, "awaiting_approval");
    put("eb_awaiting", eb_awaiting.id);
    put("ea_cancel", order(&app, &purchaser, &small).await.id);
    put("ea_purchaser_pay", order(&app, &purchaser, &small).await.id);
    put("ea_pay", order(&app, &ent_a, &small).await.id);
    let transfer = order(&app, &ent_a, &small).await;
    start_transfer(&app, &ent_a, transfer.id).await;
    put("ea_transfer", transfer.id);
    ids.insert("ea_transfer_total", transfer.total_fen.to_string());
    let mut put = |key: &'static str, id: Uuid| {
        ids.insert(key, id.to_string());
    };

    let both = [(goods_a, 2), (goods_b, 2)];
    let shipped = paid_order(&app, &ent_a, &both).await;
    let (shipped_a, shipped_b) = (shipped.group_of(goods_a).id, shipped.group_of(goods_b).id);
    ship(&app, &prod_a, shipped_a).await;
    ship(&app, &prod_b, shipped_b).await;
    put("ea_shipped", shipped.id);
    put("ea_shipped_group_a", shipped_a);
    put("ea_shipped_group_b", shipped_b);
    let eb_shipped = paid_order(&app, &ent_b, &[(goods_a, 1)]).await;
    ship(&app, &prod_a, eb_shipped.groups[0].id).await;
    put("eb_shipped", eb_shipped.id);
    put("eb_shipped_group", eb_shipped.groups[0].id);
    let paid = paid_order(&app, &ent_a, &both).await;
    put("ea_paid_group_a", paid.group_of(goods_a).id);
    put("ea_paid_group_b", paid.group_of(goods_b).id);
    let paid2 = paid_order(&app, &ent_a, &both).await;
    put("ea_paid2_group_a", paid2.group_of(goods_a).id);
    put("ea_paid2_group_b", paid2.group_of(goods_b).id);
    put("ea_paid2_line_b", paid2.line(goods_b).id);
    put("ea_refundable", paid_order(&app, &ent_a, &both).await.id);
    let refunded = paid_order(&app, &ent_a, &small).await;
    let r = app
        .as_(&admin)
        .client
        .post(app.url(&format!("/api/v1/admin/orders/{}/refunds", refunded.id)))
        .header("idempotency-key", Uuid::now_v7().to_string())
        .json(&json!({"full": true, "reason": "企业取消采购"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let refund: Value = r.json().await.unwrap();
    assert_eq!(refund["status"], "pending", "a bank transfer's refund waits for the outgoing transfer");
    put("refund_pending", id_at(&refund, "/id"));

    // An assistance certificate (the enterprise has paid orders this year).
    let year = (chrono::Utc::now() + chrono::Duration::hours(8)).format("%Y").to_string();
    let r = app
        .as_(&ent_a)
        .post("/api/v1/enterprise/assistance/certificates", &json!({"year": year.parse::<i32>().unwrap()}))
        .await;
    assert_eq!(r.status(), 201);
    let issued: Value = parse(r).await;
    ids.insert("certificate", issued["code"].as_str().unwrap().to_string());
    ids.insert("year", year);

    let mut actors = BTreeMap::new();
    let user = |u: &User| (u.client.clone(), u.email.clone());
    let owner = |o: &Owner| (o.client.clone(), o.email.clone());
    actors.insert(Consumer, user(&consumer));
    actors.insert(EnterpriseOwner, owner(&ent_a));
    actors.insert(Purchaser, user(&purchaser));
    actors.insert(Approver, user(&approver));
    actors.insert(ProducerOwner, owner(&prod_a));
    actors.insert(ProducerStaff, user(&staff_a));
    actors.insert(Admin, user(&admin));
    actors.insert(Auditor, user(&auditor));
    World { app, actors, spare_email: spare.email, ids }
}

/// What a refusal must leave as it was: (what, table, key column, fixture key). Among them
/// every cross-tenant case of issue 11.
const PROTECTED: &[(&str, &str, &str, &str)] = &[
    ("another enterprise's order awaiting approval", "orders", "id", "eb_awaiting"),
    ("its status history", "order_status_history", "order_id", "eb_awaiting"),
    ("the own enterprise's order a purchaser may not approve", "orders", "id", "ea_awaiting"),
    ("another buyer's shipped group", "order_groups", "id", "eb_shipped_group"),
    ("another buyer's shipped order", "orders", "id", "eb_shipped"),
    ("another consumer's order", "orders", "id", "cb_order"),
    ("another producer's group in an own order", "order_groups", "id", "ea_paid_group_b"),
    ("another producer's group, refunds", "order_groups", "id", "ea_paid2_group_b"),
    ("another producer's paid line, refunds", "paid_lines", "order_line_id", "ea_paid2_line_b"),
    ("another producer's product", "products", "id", "product_b"),
    ("its price history", "price_changes", "product_id", "product_b"),
    ("another producer's draft", "products", "id", "draft_b"),
    ("an own product sent status / producer_active", "products", "id", "product_keep"),
    ("an own product under review", "products", "id", "pending_keep"),
    ("a certification only staff decide", "products", "id", "cert_keep"),
    ("a price alert only admins resolve", "price_alerts", "id", "alert_keep"),
    ("a pending organization", "organizations", "id", "org_keep"),
    ("another enterprise", "organizations", "id", "org_ent_b"),
    ("another enterprise's member", "memberships", "account_id", "purchaser_b"),
    ("another enterprise's member's account", "accounts", "id", "purchaser_b"),
    ("another producer's member", "memberships", "account_id", "staff_b"),
];

async fn snapshot(world: &World) -> BTreeMap<&'static str, String> {
    let mut taken = BTreeMap::new();
    for &(what, table, column, key) in PROTECTED {
        let sql = format!(
            "select coalesce(jsonb_agg(to_jsonb(t) order by to_jsonb(t)::text), '[]')::text from {table} t where {column} = $1::uuid"
        );
        let rows: String =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(world.id(key)).fetch_one(&world.app.db).await.unwrap();
        assert_ne!(rows, "[]", "{what}: no rows in {table} for {key}");
        taken.insert(what, rows);
    }
    taken
}

// ---- the tests ----------------------------------------------------------------------------

#[tokio::test]
async fn every_role_gets_the_status_the_matrix_says_and_refusals_change_nothing() {
    let areas = matrix();
    let world = world().await;
    let before = snapshot(&world).await;
    let rows = all_rows(&areas);
    let mut differences = Vec::new();
    for row in &rows {
        if let Some(difference) = world.check(row).await {
            differences.push(difference);
        }
    }
    let operations: BTreeSet<(String, String)> = rows.iter().map(Row::operation).collect();
    println!("{} rows over {} operations", rows.len(), operations.len());
    let after = snapshot(&world).await;
    for (what, rows) in &before {
        if after[what] != *rows {
            differences.push(format!("a refusal changed {what}:\n  before {rows}\n  after  {}", after[what]));
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences from the matrix ({} rows sent):\n{}",
        differences.len(),
        rows.len(),
        differences.join("\n")
    );
}

#[tokio::test]
async fn every_operation_has_a_row_for_every_role() {
    let mut missing = Vec::new();
    for area in matrix() {
        for op in &area.ops {
            let roles: BTreeSet<Role> = op.rows.iter().map(|r| r.role).collect();
            let absent: Vec<&str> = ALL.iter().filter(|r| !roles.contains(r)).map(|r| r.label()).collect();
            if !absent.is_empty() {
                missing.push(format!("{} {}: no row for {}", op.method, op.path, absent.join(", ")));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[tokio::test]
async fn every_documented_operation_has_rows() {
    let app = TestApp::spawn().await;
    let doc: Value = parse(app.get("/api/v1/openapi.json").await).await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "options", "head", "patch", "trace"] {
            if item.get(method).is_some() {
                documented.insert((method.to_string(), path.clone()));
            }
        }
    }
    let covered: BTreeSet<(String, String)> = all_rows(&matrix()).iter().map(Row::operation).collect();
    let outside: BTreeSet<(String, String)> =
        OUTSIDE_THE_DOCUMENT.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let without_rows: Vec<String> =
        documented.difference(&covered).map(|(m, p)| format!("{} {p}", m.to_uppercase())).collect();
    let undocumented: Vec<String> = covered
        .difference(&documented)
        .filter(|op| !outside.contains(op))
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(
        without_rows.is_empty() && undocumented.is_empty(),
        "operations without rows in the authorization matrix:\n{}\nrows for operations the OpenAPI document does not have:\n{}",
        without_rows.join("\n"),
        undocumented.join("\n")
    );
    assert!(documented.len() >= 80, "the document lists {} operations", documented.len());
}

/// Every status the matrix expects of an operation is one the OpenAPI document declares for it,
/// and the document declares 401 and 403 only where some role gets them (clients generate code
/// from the document; schemathesis fails on undeclared statuses).
#[tokio::test]
async fn the_document_declares_the_statuses_of_the_matrix() {
    let app = TestApp::spawn().await;
    let doc: Value = parse(app.get("/api/v1/openapi.json").await).await;
    let mut expected: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    for row in all_rows(&matrix()) {
        expected.entry(row.operation()).or_default().insert(row.expect.0);
    }
    let mut wrong = Vec::new();
    for ((method, path), statuses) in &expected {
        let Some(responses) = doc["paths"][path][method]["responses"].as_object() else { continue };
        let name = format!("{} {path}", method.to_uppercase());
        for status in statuses {
            if !responses.contains_key(&status.to_string()) {
                wrong.push(format!("{name}: answers {status}, not declared"));
            }
        }
        // The shared refusals (not login's own 401 `invalid_credentials` or 403 `account_disabled`).
        for (status, shared) in [(401u16, "Unauthenticated"), (403, "Forbidden")] {
            let reference = format!("#/components/responses/{shared}");
            let declared = responses.get(&status.to_string()).is_some_and(|r| r["$ref"] == reference.as_str());
            if declared && !statuses.contains(&status) {
                wrong.push(format!("{name}: declares {status}, which no role gets"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---- the readable form --------------------------------------------------------------------

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/authorization.md");
const BEGIN: &str = "<!-- matrix:begin (generated from tests/api/authorization.rs) -->";
const END: &str = "<!-- matrix:end -->";

/// The status a refusal's code goes without saying for.
fn usual_code(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("unauthenticated"),
        403 => Some("forbidden"),
        404 => Some("not_found"),
        422 => Some("validation_failed"),
        _ => None,
    }
}

fn cell(rows: &[&Row]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for row in rows {
        let (status, code) = row.expect;
        let mut part = String::new();
        if row.whose != NA {
            part.push_str(row.whose.label());
            part.push(' ');
        }
        part.push_str(&status.to_string());
        if let Some(code) = code
            && usual_code(status) != Some(code)
        {
            part.push_str(&format!(" `{code}`"));
        }
        if let Some(field) = row.field {
            part.push_str(&format!(" (`{field}`)"));
        }
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    parts.join("<br>")
}

fn markdown(areas: &[Area]) -> String {
    let mut out = String::new();
    for area in areas {
        out.push_str(&format!("\n### {}\n\n| operation |", area.title));
        for role in ALL {
            out.push_str(&format!(" {} |", role.label()));
        }
        out.push_str("\n| --- |");
        for _ in ALL {
            out.push_str(" --- |");
        }
        out.push('\n');
        for op in &area.ops {
            out.push_str(&format!("| `{} {}{}`", op.method, op.path, op.query));
            if !op.note.is_empty() {
                out.push_str(&format!("<br>{}", op.note));
            }
            out.push_str(" |");
            for role in ALL {
                let rows: Vec<&Row> = op.rows.iter().filter(|r| r.role == role).collect();
                out.push_str(&format!(" {} |", cell(&rows)));
            }
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

#[tokio::test]
async fn the_document_shows_this_matrix() {
    let generated = markdown(&matrix());
    let doc = std::fs::read_to_string(DOC).expect("docs/authorization.md");
    let (head, rest) = doc.split_once(BEGIN).expect("the begin marker");
    let (current, tail) = rest.split_once(END).expect("the end marker");
    if current == generated {
        return;
    }
    if std::env::var("AUTHZ_WRITE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(DOC, format!("{head}{BEGIN}{generated}{END}{tail}")).unwrap();
        return;
    }
    panic!(
        "docs/authorization.md does not show the matrix of tests/api/authorization.rs; rewrite its tables with\n\
         AUTHZ_WRITE_DOCS=1 cargo test --test api authorization::the_document_shows_this_matrix"
    );
}
