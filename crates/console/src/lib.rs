//! facekit's web console: a page for the people who run `facekit serve`
//! (sign in with an API key, dashboard, collections, people, enroll,
//! identify and compare, keys). Its HTML, CSS and JavaScript modules are
//! compiled into the binary with `include_str!` — no build step, no CDN,
//! nothing fetched from outside the server — and served under `/ui/` with a
//! strict Content-Security-Policy (scripts from the server only, no inline
//! script, no eval, no framing). The page talks to the `/v1` API with the
//! key the operator typed, which it holds in memory for the tab only.
//! Depends on nothing of facekit's: the server mounts [`router`].
//!
//! ```
//! let app: axum::Router = facekit_console::router();
//! assert!(facekit_console::size() < 300 * 1024);
//! # drop(app);
//! ```

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Where the console is served.
pub const PREFIX: &str = "/ui/";

/// One file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! assets {
    ($($name:literal => $type:literal),* $(,)?) => {
        &[$(Asset { name: $name, content_type: $type, body: include_str!(concat!("../assets/", $name)) }),*]
    };
}

/// Every file of the console; JavaScript files are ES modules.
const ASSETS: &[Asset] = assets![
    "index.html" => "text/html; charset=utf-8",
    "console.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "api.js" => "text/javascript; charset=utf-8",
    "dom.js" => "text/javascript; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "dashboard.js" => "text/javascript; charset=utf-8",
    "collections.js" => "text/javascript; charset=utf-8",
    "people.js" => "text/javascript; charset=utf-8",
    "enroll.js" => "text/javascript; charset=utf-8",
    "search.js" => "text/javascript; charset=utf-8",
    "keys.js" => "text/javascript; charset=utf-8",
    "monitors.js" => "text/javascript; charset=utf-8",
];

/// The page's policy: everything from this server only; no inline script
/// or style, no eval, no plugins, no framing, no form posts anywhere (forms
/// are handled by script, so a page whose script failed cannot send a key
/// in a URL). Images may be `blob:` URLs: the photo the operator just chose,
/// drawn from memory.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Total bytes of the console's files (what it adds to the binary).
pub fn size() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

/// The console's routes: `/ui` and `/ui/` (the page), `/ui/{file}` (its
/// files); any other name under `/ui/` is a 404.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent(PREFIX) }))
        .route("/ui/", get(|| async { serve("index.html") }))
        .route(
            "/ui/{file}",
            get(|Path(file): Path<String>| async move { serve(&file) }),
        )
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such file in the console\n").into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Always revalidated: an upgraded server never runs a stale page.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str) -> Response {
        router::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_file_is_served_with_its_type_and_the_policy() {
        for asset in ASSETS {
            let response = get(&format!("/ui/{}", asset.name)).await;
            assert_eq!(response.status(), StatusCode::OK, "{}", asset.name);
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], asset.content_type);
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
        let page = get("/ui/").await;
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(get("/ui").await.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(get("/ui/secret.db").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            get("/ui/..%2Fkeys.db").await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn every_module_the_page_imports_is_served() {
        let served = |name: &str| ASSETS.iter().any(|a| a.name == name);
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for line in asset.body.lines() {
                if let Some(rest) = line.trim().strip_prefix("import ") {
                    let from = rest.rsplit("from").next().unwrap().trim();
                    let module = from.trim_matches(|c| c == '\'' || c == '"' || c == ';');
                    let module = module.strip_prefix("./").unwrap_or_else(|| {
                        panic!(
                            "{} imports {module}: only the console's own modules",
                            asset.name
                        )
                    });
                    assert!(
                        served(module),
                        "{} imports {module}, which is not served",
                        asset.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_page_has_no_inline_script_style_or_html_injection() {
        let html = ASSETS[0].body;
        assert!(!html.contains("<script>"), "inline script in index.html");
        assert!(!html.contains("style="), "inline style in index.html");
        for asset in ASSETS {
            let urls_allowed = asset.name.ends_with(".svg");
            for forbidden in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "localStorage",
                "sessionStorage",
                "http://",
                "https://",
            ] {
                if urls_allowed && forbidden.starts_with("http") {
                    continue; // an SVG's xmlns, not a request
                }
                assert!(
                    !asset.body.contains(forbidden),
                    "{} uses {forbidden}",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn the_console_is_small() {
        assert!(size() > 10_000, "the console's files are missing");
        assert!(size() < 300 * 1024, "the console is {} bytes", size());
    }
}
