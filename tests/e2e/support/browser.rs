//! A real browser for the portal's tests: Debian's Chromium, headless, driven over WebDriver by
//! its chromedriver (both installed by `deploy/system-deps.sh`) through fantoccini. The calls
//! block, so tests read like the other black-box tests.

use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::{DEADLINE, free_port, poll};

pub struct Browser {
    client: Option<Client>,
    runtime: tokio::runtime::Runtime,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Chromium's own log of the page (console messages, refused loads and CSP violations).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium window `width` pixels wide.
    pub fn start(width: u32) -> Self {
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver)");
        poll("chromedriver to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         format!("--window-size={width},900")],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
            // The test server's certificate is the one `vigil init` made for it.
            "acceptInsecureCerts": true,
            "timeouts": { "pageLoad": DEADLINE.as_millis() as u64, "script": DEADLINE.as_millis() as u64 },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("an object") };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = runtime
            .block_on(
                ClientBuilder::new(connector).capabilities(capabilities).connect(&format!("http://127.0.0.1:{port}")),
            )
            .expect("a WebDriver session");
        Self { client: Some(client), runtime, driver }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("open")
    }

    /// The first element matching `css`, waiting for it up to the tests' deadline.
    async fn find(&self, css: &str) -> Result<fantoccini::elements::Element, fantoccini::error::CmdError> {
        self.client().wait().at_most(DEADLINE).for_element(Locator::Css(css)).await
    }

    pub fn goto(&self, url: &str) {
        self.runtime.block_on(self.client().goto(url)).expect("goto");
    }

    pub fn url(&self) -> String {
        self.runtime.block_on(self.client().current_url()).expect("url").to_string()
    }

    pub fn source(&self) -> String {
        self.runtime.block_on(self.client().source()).expect("source")
    }

    /// The text of the first element matching `css`, once there is one.
    pub fn text(&self, css: &str) -> String {
        self.runtime.block_on(async { self.find(css).await?.text().await }).unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    pub fn count(&self, css: &str) -> usize {
        self.runtime.block_on(self.client().find_all(Locator::Css(css))).map_or(0, |all| all.len())
    }

    pub fn click(&self, css: &str) {
        self.runtime
            .block_on(async { self.find(css).await?.click().await })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Types `value` into the field matching `css`, as a person would.
    pub fn fill(&self, css: &str, value: &str) {
        self.runtime
            .block_on(async {
                let field = self.find(css).await?;
                field.clear().await?;
                field.send_keys(value).await
            })
            .unwrap_or_else(|e| panic!("fill {css}: {e}"));
    }

    /// Chooses the option of value `value` in the select matching `css`.
    pub fn choose(&self, css: &str, value: &str) {
        self.runtime
            .block_on(async { self.find(css).await?.select_by_value(value).await })
            .unwrap_or_else(|e| panic!("choose {value} in {css}: {e}"));
    }

    /// What the browser logged as an error since the last call: console errors, failed loads and
    /// CSP violations.
    pub fn errors(&self) -> Vec<String> {
        let log = self.runtime.block_on(self.client().issue_cmd(BrowserLog)).expect("browser log");
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// What axe-core (vendored in `tests/e2e/assets/axe-core/`) finds against WCAG 2.1 A and AA on
    /// the page: one line per rule broken, with how many elements break it.
    pub fn accessibility_violations(&self) -> Vec<String> {
        const AXE: &str = include_str!("../assets/axe-core/axe.min.js");
        const RUN: &str = "const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
               .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ' elements: '
                                                 + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ') + ')')))
               .catch(e => done(['axe could not run: ' + e]));";
        let found = self
            .runtime
            .block_on(async {
                self.client().execute(&format!("{AXE}\nreturn true;"), Vec::new()).await?;
                self.client().execute_async(RUN, Vec::new()).await
            })
            .expect("axe-core");
        found.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.runtime.block_on(self.client().set_window_size(width, height)).expect("resize");
    }

    pub fn screenshot(&self, path: &std::path::Path) {
        let png = self.runtime.block_on(self.client().screenshot()).expect("screenshot");
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Checks the page against WCAG 2.1 A/AA (axe-core) and, when `VIGIL_SCREENSHOTS` names a
    /// folder (`make screenshots`), saves it as `{page}-desktop.png` and `{page}-tablet.png` there.
    pub fn check_and_capture(&self, page: &str) {
        assert_eq!(self.accessibility_violations(), Vec::<String>::new(), "WCAG 2.1 AA on the {page} page");
        let Some(dir) = std::env::var_os("VIGIL_SCREENSHOTS") else { return };
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        for (width, name) in [(1280, "desktop"), (768, "tablet")] {
            self.resize(width, 1000);
            self.screenshot(&dir.join(format!("{page}-{name}.png")));
        }
        self.resize(1280, 900);
    }
}
