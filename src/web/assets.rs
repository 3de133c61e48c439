//! The page and what it loads, embedded in the binary: nothing is fetched from
//! elsewhere when it runs. `web/vendor/` holds xterm.js and its fit add-on as
//! published on npm (`scripts/vendor-xterm` makes it again), with their licences.

/// The dashboard page.
pub const INDEX: &str = include_str!("../../web/index.html");

/// A static file by its path: its content type and bytes.
pub fn get(path: &str) -> Option<(&'static str, &'static [u8])> {
    const JS: &str = "text/javascript; charset=utf-8";
    const CSS: &str = "text/css; charset=utf-8";
    const TEXT: &str = "text/plain; charset=utf-8";
    let found: (&str, &[u8]) = match path {
        "/app.js" => (JS, include_bytes!("../../web/app.js")),
        "/app.css" => (CSS, include_bytes!("../../web/app.css")),
        "/vendor/xterm.js" => (JS, include_bytes!("../../web/vendor/xterm.js")),
        "/vendor/xterm.css" => (CSS, include_bytes!("../../web/vendor/xterm.css")),
        "/vendor/addon-fit.js" => (JS, include_bytes!("../../web/vendor/addon-fit.js")),
        "/vendor/xterm.LICENSE" => (TEXT, include_bytes!("../../web/vendor/xterm.LICENSE")),
        "/vendor/addon-fit.LICENSE" => (TEXT, include_bytes!("../../web/vendor/addon-fit.LICENSE")),
        _ => return None,
    };
    Some(found)
}
