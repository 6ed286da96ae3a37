//! The web console in a real browser: Debian's headless Chromium, driven
//! over WebDriver (chromedriver, installed by `scripts/browser.sh`), against
//! a real server on 127.0.0.1 with real models and photos. Screenshots at
//! desktop and phone width go to `target/tmp/console/`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const OBAMA: &str = "identities/face_recognition_knn/train/obama/obama.jpg";
const OBAMA2: &str = "identities/face_recognition_knn/train/obama/obama2.jpg";
const BIDEN: &str = "identities/face_recognition_knn/train/biden/biden.jpg";
const BIDEN2: &str = "identities/face_recognition_knn/train/biden/biden2.jpg";
const XSS: &str = "<img src=x onerror=alert(1)>";
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    url: String,
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/browser.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run scripts/browser.sh");
    assert!(
        out.status.success(),
        "scripts/browser.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chromedriver = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while ureq::get(&format!("{url}/status")).call().is_err() {
        assert!(started.elapsed() < WAIT, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver { url, child }
}

/// chromedriver's log of one kind (`performance`: the DevTools network events).
#[derive(Debug)]
struct GetLog(&'static str);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": self.0 }).to_string()),
        )
    }
}

/// A headless Chromium session; `extra` adds command-line switches.
async fn browser(driver: &Driver, extra: &[&str]) -> Client {
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-extensions",
    ];
    args.extend_from_slice(extra);
    let mut caps = Capabilities::new();
    caps.insert("goog:chromeOptions".into(), json!({ "args": args }));
    caps.insert(
        "goog:loggingPrefs".into(),
        json!({ "performance": "ALL", "browser": "ALL" }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("open a Chromium session")
}

async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
}

/// The element once it is displayed (the sign-in form stays in the page,
/// hidden, while signed in).
async fn shown(c: &Client, css: &str) -> fantoccini::elements::Element {
    let started = Instant::now();
    loop {
        if let Ok(element) = c.find(Locator::Css(css)).await
            && element.is_displayed().await.unwrap_or(false)
        {
            return element;
        }
        assert!(started.elapsed() < WAIT, "{css} was never shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the element once it can take a click: present is not enough, as
/// a page shown after an asynchronous check (sign-in) or re-rendered after
/// a reply is briefly hidden or replaced.
async fn press(c: &Client, css: &str) {
    let started = Instant::now();
    loop {
        let outcome = match c.find(Locator::Css(css)).await {
            Ok(element) => element.click().await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => return,
            Err(e) if started.elapsed() >= WAIT => panic!("could not press {css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Waits until the element's text satisfies `ok`; returns it.
async fn text_of(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(text) = e.text().await
            && ok(&text)
        {
            return text;
        }
        assert!(
            started.elapsed() < WAIT,
            "{css} never showed the expected text"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open(c: &Client, page: &str) {
    press(c, &format!("nav a[href='#/{page}']")).await;
    find(c, &format!("[data-page='{page}']")).await;
}

async fn sign_in(c: &Client, token: &str) {
    let key = shown(c, "#api-key").await;
    key.send_keys(token).await.unwrap();
    press(c, "#sign-in button[type=submit]").await;
}

async fn sign_out(c: &Client) {
    press(c, "#sign-out").await;
    shown(c, "#api-key").await;
}

/// A test photo's path as the file input takes it (absolute, canonical).
fn file(rel: &str) -> String {
    let path = facekit_testdata::shared(rel);
    let path = path
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path.display().to_string()
}

async fn enroll(c: &Client, key: &str, name: &str, photos: &[&str]) -> String {
    open(c, "enroll").await;
    find(c, "#person-key").await.send_keys(key).await.unwrap();
    find(c, "#person-display-name")
        .await
        .send_keys(name)
        .await
        .unwrap();
    let files: Vec<String> = photos.iter().map(|p| file(p)).collect();
    find(c, "#photos")
        .await
        .send_keys(&files.join("\n"))
        .await
        .unwrap();
    press(c, "#enroll-button").await;
    let started = Instant::now();
    while c
        .find_all(Locator::Css(
            "#enroll-results li.enrolled, #enroll-results li.refused",
        ))
        .await
        .unwrap()
        .len()
        < photos.len()
    {
        assert!(started.elapsed() < WAIT, "enrolling {key} did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    find(c, "#enroll-results").await.text().await.unwrap()
}

async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(&path, png).unwrap();
    path
}

/// The page's background colour, as computed.
async fn background(c: &Client) -> Value {
    c.execute(
        "return getComputedStyle(document.body).backgroundColor",
        vec![],
    )
    .await
    .unwrap()
}

/// The page fits the window: nothing wider than the viewport.
async fn fits_width(c: &Client) -> (i64, i64) {
    let v = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await
        .unwrap();
    (v[0].as_i64().unwrap(), v[1].as_i64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_runs_the_gallery_in_a_real_browser() {
    let server = common::start(|_, _| {});
    let driver = start_driver();
    let c = browser(&driver, &[]).await;
    c.goto(&format!("{}/ui/", server.url)).await.unwrap();

    // A wrong key is refused on the sign-in form.
    sign_in(&c, "fk_nobody.wrong").await;
    text_of(&c, "#sign-in-status", |t| t.contains("Key refused (401)")).await;
    find(&c, "#api-key").await.clear().await.unwrap();

    sign_in(&c, &server.admin).await;
    let version = text_of(&c, "#version", |t| !t.is_empty()).await;
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        background(&c).await,
        "rgb(246, 247, 249)",
        "not the light background"
    );
    text_of(&c, "#models-table", |t| {
        t.contains("recognition") && t.contains("detection")
    })
    .await;

    // A collection, two people enrolled from real photos through the file input.
    open(&c, "collections").await;
    find(&c, "#new-collection")
        .await
        .send_keys("staff")
        .await
        .unwrap();
    press(&c, "#create-collection button[type=submit]").await;
    text_of(&c, "#collections-table", |t| t.contains("staff")).await;
    let obama = enroll(&c, "obama", "Barack Obama", &[OBAMA]).await;
    assert!(obama.contains("obama.jpg: enrolled face"), "{obama}");
    let biden = enroll(&c, "biden", "Joe Biden", &[BIDEN, BIDEN2]).await;
    assert_eq!(biden.matches(": enrolled face").count(), 2, "{biden}");
    // A photo without a face is refused, with the reason shown.
    let refused = enroll(&c, "obama", "", &["images/no_faces_mtcnn.jpg"]).await;
    assert!(
        refused.contains("not enrolled") && refused.contains("no_face"),
        "{refused}"
    );

    // Identify a third photo: the name and score on the page are the API's.
    open(&c, "identify").await;
    find(&c, "#identify-photo")
        .await
        .send_keys(&file(OBAMA2))
        .await
        .unwrap();
    press(&c, "#identify-button").await;
    let name = text_of(&c, "#identify-table .match-name", |t| !t.is_empty()).await;
    let score: f32 = text_of(&c, "#identify-table .match-score", |t| !t.is_empty())
        .await
        .parse()
        .unwrap();
    assert_eq!(name, "Barack Obama");
    let api = server.post_multipart(
        "/v1/collections/staff/identify",
        &server.reader,
        &[("image", &common::photo(OBAMA2))],
        &[("top_k", "3")],
    );
    let expected = common::ok(&api, 200)["faces"][0]["best"]["score"]
        .as_f64()
        .unwrap() as f32;
    assert!(
        (score - expected).abs() < 6e-4,
        "page {score}, API {expected}"
    );
    find(&c, "#identify-results canvas.photo").await;
    let mut shots = vec![screenshot(&c, "identify-desktop").await];

    // A name that is markup shows as text, and runs nothing.
    enroll(&c, "xss", XSS, &[BIDEN2]).await;
    open(&c, "people").await;
    text_of(&c, "#people-table", |t| {
        t.contains(XSS) && t.contains("biden")
    })
    .await;
    // Search by part of a name, any case.
    find(&c, "#person-search")
        .await
        .send_keys("BARACK")
        .await
        .unwrap();
    press(&c, "form[role=search] button").await;
    text_of(&c, "#people-table", |t| {
        t.contains("obama") && !t.contains("biden")
    })
    .await;
    find(&c, "#person-search").await.clear().await.unwrap();
    press(&c, "form[role=search] button").await;
    text_of(&c, "#people-table", |t| t.contains(XSS)).await;
    let images = c.find_all(Locator::Css("#people-table img")).await.unwrap();
    assert!(images.is_empty(), "the name was rendered as HTML");
    assert!(c.get_alert_text().await.is_err(), "the name's script ran");
    press(&c, "#people-table a[href*='p=xss']").await;
    assert_eq!(text_of(&c, "#person-name", |t| !t.is_empty()).await, XSS);
    shots.push(screenshot(&c, "person-desktop").await);

    // Rename, change the metadata (markup in it stays text), delete the face.
    let rename = find(&c, "#rename").await;
    rename.clear().await.unwrap();
    rename.send_keys("Renamed Person").await.unwrap();
    let metadata = find(&c, "#metadata").await;
    metadata.clear().await.unwrap();
    metadata
        .send_keys(r#"{"team": "<b>ops</b>"}"#)
        .await
        .unwrap();
    press(&c, "#edit-person button[type=submit]").await;
    text_of(&c, "#person-name", |t| t == "Renamed Person").await;
    text_of(&c, "#person-metadata", |t| {
        t.contains(r#""team": "<b>ops</b>""#)
    })
    .await;
    assert!(
        c.find_all(Locator::Css("#person-metadata b"))
            .await
            .unwrap()
            .is_empty()
    );
    press(&c, "#faces-table button.danger").await;
    press(&c, "#faces-table button.danger").await;
    text_of(&c, "#faces-table", |t| t.contains("Nothing yet.")).await;
    let reply = server.get("/v1/collections/staff/persons/xss", Some(&server.admin));
    let person = common::ok(&reply, 200);
    assert_eq!(person["name"], "Renamed Person");
    assert_eq!(person["metadata"]["team"], "<b>ops</b>");
    assert_eq!(person["samples"], 0);

    // Compare two photos of one man: the page's verdict and score are the API's.
    open(&c, "compare").await;
    find(&c, "#compare-1")
        .await
        .send_keys(&file(OBAMA))
        .await
        .unwrap();
    find(&c, "#compare-2")
        .await
        .send_keys(&file(OBAMA2))
        .await
        .unwrap();
    press(&c, "#compare-button").await;
    let verdict = text_of(&c, "#compare-results .verdict", |t| t.contains("score")).await;
    let api = server.post_multipart(
        "/v1/compare",
        &server.reader,
        &[
            ("image1", &common::photo(OBAMA)),
            ("image2", &common::photo(OBAMA2)),
        ],
        &[],
    );
    let expected = common::ok(&api, 200)["score"].as_f64().unwrap();
    assert!(
        verdict.starts_with("Same person") && verdict.contains(&format!("score {expected:.3}")),
        "page: {verdict}; API score {expected}"
    );
    assert_eq!(
        c.find_all(Locator::Css("#compare-results canvas"))
            .await
            .unwrap()
            .len(),
        2
    );

    // Phone width: one column, nothing wider than the screen.
    c.set_window_size(375, 812).await.unwrap();
    open(&c, "dashboard").await;
    text_of(&c, "#request-summary", |t| t.contains("requests")).await;
    let (content, viewport) = fits_width(&c).await;
    assert!(
        content <= viewport && viewport <= 375,
        "content {content} px in a {viewport} px window"
    );
    shots.push(screenshot(&c, "dashboard-375").await);
    open(&c, "identify").await;
    let (content, viewport) = fits_width(&c).await;
    assert!(
        content <= viewport,
        "identify: content {content} px in {viewport} px"
    );
    shots.push(screenshot(&c, "identify-375").await);
    c.set_window_size(1280, 900).await.unwrap();

    // Cameras: a monitor added from the page (its password never shown
    // again), its state and its live events, then deleted.
    open(&c, "monitors").await;
    find(&c, "#monitor-name")
        .await
        .send_keys("lobby")
        .await
        .unwrap();
    find(&c, "#monitor-source")
        .await
        .send_keys("rtsp://guard:hunter2@127.0.0.1:1/lobby")
        .await
        .unwrap();
    press(&c, "#create-monitor button[type=submit]").await;
    text_of(&c, "#monitors-status", |t| {
        t.contains("rtsp://***@127.0.0.1:1/lobby")
    })
    .await;
    text_of(&c, "#monitors-table", |t| {
        t.contains("lobby") && t.contains("retrying")
    })
    .await;
    text_of(&c, "#monitor-events", |t| t.contains("source_lost")).await;
    assert!(
        !c.source().await.unwrap().contains("hunter2"),
        "the camera's password is on the page"
    );
    shots.push(screenshot(&c, "monitors-desktop").await);
    press(&c, "#monitors-table button.danger").await;
    press(&c, "#monitors-table button.danger").await;
    text_of(&c, "#monitors-status", |t| t.contains("Deleted lobby")).await;
    let left = server.get("/v1/monitors", Some(&server.admin));
    assert!(
        common::ok(&left, 200)["monitors"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Keys: a new reader key, its token shown once.
    open(&c, "keys").await;
    find(&c, "#new-key-name")
        .await
        .send_keys("front desk")
        .await
        .unwrap();
    find(&c, "#new-key-role")
        .await
        .select_by_value("reader")
        .await
        .unwrap();
    press(&c, "#create-key button[type=submit]").await;
    let token = text_of(&c, "#new-token", |t| t.starts_with("fk_")).await;
    let key_id = text_of(&c, "#keys-status strong", |t| t.starts_with("Key ")).await;
    let key_id = key_id
        .trim_start_matches("Key ")
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    sign_out(&c).await;

    // The reader key, signed in with the keyboard only (Enter submits):
    // enrolling is not offered, and a forced click is a 403 on the page.
    find(&c, "#api-key")
        .await
        .send_keys(&format!("{token}\u{E007}"))
        .await
        .unwrap();
    text_of(&c, "#whoami", |t| t.contains("reader")).await;
    let keys_link = c.find(Locator::Css("nav a[href='#/keys']")).await.unwrap();
    assert!(
        !keys_link.is_displayed().await.unwrap(),
        "a reader is offered the keys page"
    );
    open(&c, "enroll").await;
    let button = find(&c, "#enroll-button").await;
    assert!(
        !button.is_enabled().await.unwrap(),
        "a reader can press Enroll"
    );
    text_of(&c, ".role-note", |t| t.contains("needs the writer role")).await;
    find(&c, "#person-key")
        .await
        .send_keys("obama")
        .await
        .unwrap();
    find(&c, "#photos")
        .await
        .send_keys(&file(OBAMA2))
        .await
        .unwrap();
    let _ = button.click().await;
    let faces = |key: &str| {
        let reply = server.get(
            &format!("/v1/collections/staff/persons/{key}/faces"),
            Some(&server.admin),
        );
        common::ok(&reply, 200)["faces"].as_array().unwrap().len()
    };
    assert_eq!(faces("obama"), 1, "a reader's click enrolled a face");
    open(&c, "collections").await;
    c.execute(
        "const b = document.querySelector('#create-collection button'); b.disabled = false; document.querySelector('#new-collection').value = 'forced';",
        vec![],
    )
    .await
    .unwrap();
    press(&c, "#create-collection button").await;
    text_of(&c, ".error", |t| {
        t.contains("Not allowed (403)") && t.contains("admin role")
    })
    .await;
    sign_out(&c).await;

    // Revoked, the key is refused by the page.
    sign_in(&c, &server.admin).await;
    open(&c, "keys").await;
    let revoke = format!("button[data-key='{key_id}']");
    press(&c, &revoke).await;
    press(&c, &revoke).await;
    text_of(&c, "#keys-status", |t| t.contains("Revoked")).await;
    sign_out(&c).await;
    sign_in(&c, &token).await;
    text_of(&c, "#sign-in-status", |t| t.contains("Key refused (401)")).await;

    // Every request the page made went to this server, none with a key in its URL.
    let log = c.issue_cmd(GetLog("performance")).await.unwrap();
    let urls: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| serde_json::from_str::<Value>(entry["message"].as_str()?).ok())
        .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
        .map(|m| {
            m["message"]["params"]["request"]["url"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        urls.len() > 20,
        "the network log has {} requests",
        urls.len()
    );
    assert!(urls.iter().any(|u| u.ends_with("/identify")));
    for url in &urls {
        assert!(
            url.starts_with(&format!("{}/", server.url))
                || url.starts_with("blob:")
                || url.starts_with("data:"),
            "a request outside the server: {url}"
        );
        for secret in [&server.admin, &token] {
            assert!(!url.contains(secret.as_str()), "a key in a URL: {url}");
        }
    }
    // No script error and no policy violation in the whole session.
    let console = c.issue_cmd(GetLog("browser")).await.unwrap();
    for entry in console.as_array().unwrap() {
        let message = entry["message"].as_str().unwrap_or("");
        assert!(
            !message.contains("Content Security Policy") && !message.contains("Uncaught"),
            "browser console: {message}"
        );
    }
    c.close().await.unwrap();

    // Dark mode: the system's dark setting gives the dark colours.
    let dark = browser(&driver, &["--force-dark-mode"]).await;
    dark.goto(&format!("{}/ui/", server.url)).await.unwrap();
    sign_in(&dark, &server.admin).await;
    text_of(&dark, "#version", |t| !t.is_empty()).await;
    assert_eq!(
        background(&dark).await,
        "rgb(17, 20, 24)",
        "not the dark background"
    );
    shots.push(screenshot(&dark, "dashboard-dark").await);
    dark.close().await.unwrap();
    for shot in &shots {
        eprintln!("screenshot: {}", shot.display());
    }
}

#[test]
fn the_console_is_served_with_its_policy_and_can_be_turned_off() {
    let server = common::start(|_, _| {});
    let page = ureq::get(&format!("{}/ui/", server.url)).call().unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let root = ureq::get(&format!("{}/", server.url))
        .config()
        .max_redirects(0)
        .build()
        .call()
        .unwrap();
    assert_eq!(root.headers()["location"], "/ui/");

    let off = common::start(|config, _| config.ui = false);
    let refused = ureq::get(&format!("{}/ui/", off.url))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(refused.status(), 404);
}
