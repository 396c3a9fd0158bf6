//! The reader's language for what the service says to people: problem titles and details, and
//! the per-field messages of 422s. Codes and field names never change with it, so clients keep
//! branching on them; only the words do. The words live in one Fluent catalog per language
//! (`locales/en/main.ftl`, `locales/zh-CN/main.ftl`), compiled into the binary.
//!
//! Errors are built deep in the code, far from the request, so a message is carried as a
//! [`Msg`] (catalog id and arguments) and put into words when the reply is written, in the
//! language [`negotiate`] chose for the request from `Accept-Language`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use axum::extract::{Request, State};
use axum::http::header::ACCEPT_LANGUAGE;
use axum::middleware::Next;
use axum::response::Response;
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid, static_loader};
use serde::{Deserialize, Serialize};

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: the replies are JSON read by programs
        // as well as people, and the arguments are ids, numbers and codes.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A language the catalogs are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Lang {
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    fn id(self) -> LanguageIdentifier {
        match self {
            Lang::En => langid!("en"),
            Lang::ZhCn => langid!("zh-CN"),
        }
    }

    /// The language to answer an `Accept-Language` header in: the highest-weighted range that
    /// is Chinese (any script or region: a reader of traditional characters still reads
    /// simplified ones better than English) or English; `default` when none is, or for `*`.
    pub fn from_accept_language(header: &str, default: Lang) -> Lang {
        let mut ranges: Vec<(&str, f32)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let range = pieces.next()?.trim();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q=").map(|q| q.trim().parse::<f32>().unwrap_or(0.0)))
                    .unwrap_or(1.0);
                (!range.is_empty() && q > 0.0).then_some((range, q))
            })
            .collect();
        // Stable: among equal weights the header's order decides.
        ranges.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (range, _) in ranges {
            if range == "*" {
                return default;
            }
            match range.parse::<LanguageIdentifier>().map(|id| id.language) {
                Ok(language) if language.as_str() == "zh" => return Lang::ZhCn,
                Ok(language) if language.as_str() == "en" => return Lang::En,
                _ => {}
            }
        }
        default
    }
}

tokio::task_local! {
    static CURRENT: Lang;
}

/// The language of the request being served; English outside a request (the command line, logs).
pub fn current() -> Lang {
    CURRENT.try_with(|lang| *lang).unwrap_or(Lang::En)
}

/// Runs `future` with `lang` as the current language (tests and background work that answers
/// on behalf of a request).
pub async fn scope<F: Future>(lang: Lang, future: F) -> F::Output {
    CURRENT.scope(lang, future).await
}

/// Middleware, outermost: picks the request's language from `Accept-Language` (else the
/// configured default) and serves the whole request in it, layers' own problem replies included.
pub async fn negotiate(State(default): State<Lang>, request: Request, next: Next) -> Response {
    let lang = request
        .headers()
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(|header| Lang::from_accept_language(header, default))
        .unwrap_or(default);
    CURRENT.scope(lang, next.run(request)).await
}

/// A value put into a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Int(i64),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(v: $t) -> Self {
                Arg::Int(v as i64)
            }
        }
    )*};
}
int_arg!(i32, i64, u32, u64, usize);

/// Something to tell a person, by catalog id, put into words only when the reply is written.
/// Build it with [`msg!`](crate::msg).
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    id: &'static str,
    args: Vec<(&'static str, Arg)>,
}

impl Msg {
    pub fn new(id: &'static str) -> Self {
        Self { id, args: Vec::new() }
    }

    pub fn arg(mut self, name: &'static str, value: impl Into<Arg>) -> Self {
        self.args.push((name, value.into()));
        self
    }

    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The words in `lang`. An id missing from the catalogs (a test fails on that) shows as
    /// itself rather than as nothing.
    pub fn render(&self, lang: Lang) -> String {
        render(lang, self.id, &self.args)
    }
}

/// The message in English, for logs and `Display` of errors.
impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

/// In the current request's language.
impl Serialize for Msg {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.render(current()))
    }
}

/// Looks `id` up in `lang`'s catalog; for ids that are not messages of their own (a code's
/// title).
pub fn render(lang: Lang, id: &str, args: &[(&'static str, Arg)]) -> String {
    let args: HashMap<Cow<'static, str>, FluentValue<'_>> = args
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Arg::Text(text) => FluentValue::from(text.as_str()),
                Arg::Int(n) => FluentValue::from(*n),
            };
            (Cow::Borrowed(*name), value)
        })
        .collect();
    LOCALES.try_lookup_complete(&lang.id(), id, Some(&args)).unwrap_or_else(|| id.to_string())
}

/// Whether `lang`'s own catalog (no fallback to another language) has `id`. Looked up without
/// arguments, a message that takes some still counts: it is there, only incomplete.
pub fn has(lang: Lang, id: &str) -> bool {
    // fluent-templates does not export its error type: a message found but missing its
    // arguments is the "Fluent errors" one.
    match LOCALES.lookup_single_language::<&str>(&lang.id(), id, None) {
        Ok(_) => true,
        Err(e) => e.to_string().starts_with("Fluent errors"),
    }
}

/// A [`Msg`]: `msg!("text-too-long", max = 200)`. Ids are checked against both catalogs by
/// `every_message_id_in_the_code_is_in_both_catalogs`.
#[macro_export]
macro_rules! msg {
    ($id:literal $(, $name:ident = $value:expr)* $(,)?) => {
        $crate::i18n::Msg::new($id)$(.arg(stringify!($name), $value))*
    };
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use super::{Lang, has};

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// Each message of a catalog with the variables it uses: ids start a line at column 0
    /// (`id = ...`), continuation lines are indented.
    fn catalog(lang: Lang) -> BTreeMap<String, BTreeSet<String>> {
        let text = std::fs::read_to_string(root().join("locales").join(lang.tag()).join("main.ftl")).unwrap();
        let mut messages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut current = None;
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if !line.starts_with(char::is_whitespace) {
                let (id, _) = line.split_once(" =").unwrap_or_else(|| panic!("not a message: {line}"));
                assert!(messages.insert(id.to_string(), BTreeSet::new()).is_none(), "{id} twice in {}", lang.tag());
                current = Some(id.to_string());
            }
            let id = current.as_ref().expect("a continuation after a message");
            let mut rest = line;
            while let Some(at) = rest.find('$') {
                let name: String =
                    rest[at + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                messages.get_mut(id).unwrap().insert(name.clone());
                rest = &rest[at + 1 + name.len()..];
            }
        }
        messages
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn both_catalogs_have_the_same_messages() {
        let en = catalog(Lang::En);
        let zh = catalog(Lang::ZhCn);
        let en_ids: BTreeSet<_> = en.keys().collect();
        let zh_ids: BTreeSet<_> = zh.keys().collect();
        assert_eq!(en_ids.difference(&zh_ids).collect::<Vec<_>>(), Vec::<&&String>::new(), "missing in zh-CN");
        assert_eq!(zh_ids.difference(&en_ids).collect::<Vec<_>>(), Vec::<&&String>::new(), "missing in en");
        // And the loader read them all (a syntax error drops a message).
        for lang in Lang::ALL {
            for id in en.keys() {
                assert!(has(lang, id), "{id} does not load in {}", lang.tag());
            }
        }
    }

    #[test]
    fn every_message_id_in_the_code_is_in_both_catalogs() {
        let mut files = Vec::new();
        rust_files(&root().join("src"), &mut files);
        let catalogs = [catalog(Lang::En), catalog(Lang::ZhCn)];
        let mut used = BTreeSet::new();
        let mut wrong_arguments = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (at, _) in text.match_indices("msg!(\"") {
                let id: String = text[at + 6..].chars().take_while(|c| *c != '"').collect();
                // The arguments: `name = expr` pieces up to the macro's closing parenthesis.
                let mut depth = 0;
                let mut pieces = vec![String::new()];
                for c in text[at + 7 + id.len()..].chars() {
                    match c {
                        '(' | '[' | '{' => depth += 1,
                        ')' | ']' | '}' if depth == 0 => break,
                        ')' | ']' | '}' => depth -= 1,
                        ',' if depth == 0 => {
                            pieces.push(String::new());
                            continue;
                        }
                        _ => {}
                    }
                    pieces.last_mut().unwrap().push(c);
                }
                let names: BTreeSet<String> = pieces
                    .iter()
                    .filter_map(|p| p.split_once('=').map(|(name, _)| name.trim().to_string()))
                    .filter(|name| !name.is_empty())
                    .collect();
                // A message may leave an argument out, but not use one it is not given.
                for catalog in &catalogs {
                    if let Some(vars) = catalog.get(&id).filter(|vars| !vars.is_subset(&names)) {
                        wrong_arguments.push(format!("{id} in {}: given {names:?}, uses {vars:?}", file.display()));
                    }
                }
                used.insert(id);
            }
        }
        assert!(wrong_arguments.is_empty(), "{wrong_arguments:#?}");
        assert!(used.len() > 100, "found only {} ids: is the scan broken?", used.len());
        let missing: Vec<_> = used
            .iter()
            .flat_map(|id| Lang::ALL.into_iter().filter(|l| !has(*l, id)).map(move |l| format!("{id} ({})", l.tag())))
            .collect();
        assert!(missing.is_empty(), "ids used in the code but not in a catalog: {missing:?}");
    }

    #[test]
    fn every_code_in_the_error_docs_has_a_title_in_both_languages() {
        let docs = std::fs::read_to_string(root().join("docs/errors.md")).unwrap();
        let mut codes = BTreeSet::new();
        for row in docs.lines().filter(|l| l.starts_with("| ")) {
            let Some(cell) = row.split('|').nth(2) else { continue };
            for (i, piece) in cell.split('`').enumerate() {
                if i % 2 == 1 {
                    codes.insert(piece.to_string());
                }
            }
        }
        assert!(codes.len() > 40, "found only {} codes in docs/errors.md", codes.len());
        for code in &codes {
            for lang in Lang::ALL {
                assert!(has(lang, &format!("title-{code}")), "no title for `{code}` in {}", lang.tag());
            }
        }
    }

    #[test]
    fn arguments_are_put_into_the_words_of_each_language() {
        let m = msg!("text-too-long", max = 200);
        assert_eq!(m.render(Lang::En), "is too long (at most 200 characters)");
        assert_eq!(m.render(Lang::ZhCn), "过长（最多 200 个字符）");
        let m = msg!("open-orders-limit", scope = "enterprise", open_orders = 50);
        assert!(m.render(Lang::En).starts_with("this enterprise (all its members together) already has 50"));
        assert!(m.render(Lang::ZhCn).starts_with("本企业（全体成员合计）已有 50 笔"));
        assert_eq!(msg!("range", min = 0, max = 10_000_000_000_i64).render(Lang::En), "must be from 0 to 10000000000");
    }

    #[test]
    fn the_highest_weighted_chinese_or_english_range_wins() {
        let pick = |h: &str| Lang::from_accept_language(h, Lang::ZhCn);
        assert_eq!(pick("en"), Lang::En);
        assert_eq!(pick("en-US,en;q=0.9"), Lang::En);
        assert_eq!(pick("zh-CN,zh;q=0.9,en;q=0.8"), Lang::ZhCn);
        assert_eq!(pick("en;q=0.2, zh-TW;q=0.8"), Lang::ZhCn);
        assert_eq!(pick("fr-FR, en;q=0.5"), Lang::En);
        assert_eq!(pick("fr-FR"), Lang::ZhCn);
        assert_eq!(pick("*"), Lang::ZhCn);
        assert_eq!(pick("en;q=0, zh;q=0"), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language("de, *;q=0.5", Lang::En), Lang::En);
        assert_eq!(pick("zh-Hant"), Lang::ZhCn);
        assert_eq!(pick(";;,,q=1"), Lang::ZhCn);
    }
}
