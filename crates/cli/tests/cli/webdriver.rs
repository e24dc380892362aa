//! A minimal W3C WebDriver client over the tests' plain HTTP client, driving Debian's
//! Chromium through ChromeDriver: enough to open pages, click, read, take screenshots and run
//! axe-core, without an HTTP or WebDriver library in the build.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::http::request;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; closed (and ChromeDriver stopped) on drop.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    pub downloads: tempfile::TempDir,
    _home: tempfile::TempDir,
}

/// Whether the browser tests must run (CI) rather than skip when a tool is missing.
pub fn required() -> bool {
    std::env::var("BIOGUARD_TEST_BROWSER").is_ok_and(|v| v == "required")
}

fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium session, or `None` (with a note) when
    /// either is missing and the browser tests are not required.
    pub fn start() -> Option<Self> {
        if !found("chromedriver") || !found("chromium") {
            assert!(
                !required(),
                "chromium and chromedriver are required for this test"
            );
            eprintln!("note: chromium or chromedriver is not installed; skipping a browser test");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let home = tempfile::tempdir().expect("home");
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("HOME", home.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let started = Instant::now();
        while request(addr, "GET", "/status", None, None)
            .map(|r| r.json()["value"]["ready"] != true)
            .unwrap_or(true)
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let downloads = tempfile::tempdir().expect("downloads");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,2400",
                         "--hide-scrollbars"],
                "prefs": {"download.default_directory": downloads.path(),
                          "download.prompt_for_download": false}
            }
        }}});
        let r =
            request(addr, "POST", "/session", None, Some(&caps.to_string())).expect("new session");
        let session = r.json()["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {}", r.body))
            .to_owned();
        let b = Self {
            driver,
            addr,
            session,
            downloads,
            _home: home,
        };
        // Finding an element waits for it (a form's answer may still be loading).
        b.call(
            "POST",
            "/timeouts",
            Some(json!({"implicit": 5000, "pageLoad": 30000, "script": 30000})),
        );
        Some(b)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = body.map(|b| b.to_string());
        let r = request(self.addr, method, &path, None, body.as_deref()).expect("webdriver call");
        let v = r.json();
        assert!(
            r.status == 200,
            "webdriver {method} {path}: {} {}",
            r.status,
            v["value"]["message"]
        );
        v["value"].clone()
    }

    /// Opens a URL and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The page's HTML as the browser now holds it.
    pub fn source(&self) -> String {
        self.call("GET", "/source", None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    fn element(&self, css: &str) -> String {
        let path = format!("/session/{}/element", self.session);
        let body = json!({"using": "css selector", "value": css}).to_string();
        let r = request(self.addr, "POST", &path, None, Some(&body)).expect("webdriver call");
        match r.json()["value"][ELEMENT].as_str() {
            Some(id) => id.to_owned(),
            None => panic!("no element {css} on {}:\n{}", self.url(), self.source()),
        }
    }

    /// Clicks the element matching `css` (as a keyboard user would press it: the element
    /// must be focusable and enabled).
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Presses keys (WebDriver key codes, e.g. `\u{E004}` Tab, `\u{E007}` Enter) on
    /// whatever has the focus.
    pub fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.call(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// The `id` attribute of the focused element.
    pub fn focused_id(&self) -> String {
        let v = self.call("GET", "/element/active", None);
        let id = v[ELEMENT].as_str().expect("active element").to_owned();
        self.call("GET", &format!("/element/{id}/attribute/id"), None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Moves the focus with Tab, as a keyboard user would, until the element with `id` has
    /// it (at most `max` presses).
    pub fn tab_to(&self, id: &str, max: usize) {
        for _ in 0..max {
            self.press("\u{E004}");
            if self.focused_id() == id {
                return;
            }
        }
        panic!("#{id} cannot be reached with the keyboard in {max} presses of Tab");
    }

    /// The visible text of the element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let id = self.element(css);
        self.call("GET", &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Resizes the window to `width` by `height` CSS pixels.
    pub fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// The viewport's width and how many CSS pixels the page is wider than it (0: no
    /// horizontal scrolling), as the page measures them.
    pub fn width_and_overflow(&self) -> (i64, i64) {
        let v = self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": "const d = document.documentElement; \
                return [d.clientWidth, Math.max(d.scrollWidth, document.body.scrollWidth) - d.clientWidth];",
                "args": []})),
        );
        (
            v[0].as_i64().unwrap_or(-1),
            v[1].as_i64().unwrap_or(i64::MAX),
        )
    }

    /// Saves a PNG screenshot of the window.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64"))
            .expect("png");
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Runs axe-core (its source in `axe`) on the page and returns its violations of impact
    /// serious or critical, as (rule, impact, help, targets).
    pub fn serious_accessibility_violations(&self, axe: &str) -> Vec<String> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": axe, "args": []})),
        );
        let result = self.call(
            "POST",
            "/execute/async",
            Some(json!({"script": "const done = arguments[arguments.length - 1]; \
                axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}}) \
                .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, \
                targets: v.nodes.map(n => n.target.join(' '))})))) \
                .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), targets: []}]));",
                "args": []})),
        );
        result
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| {
                format!(
                    "{} ({}): {} at {}",
                    v["id"], v["impact"], v["help"], v["targets"]
                )
            })
            .collect()
    }

    /// Waits for a file to appear in the download folder and returns it.
    pub fn downloaded(&self, name: &str) -> PathBuf {
        let path = self.downloads.path().join(name);
        let started = Instant::now();
        while !path.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{name} was not downloaded"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
