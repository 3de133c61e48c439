//! The page in a real browser: headless Chromium driven over WebDriver.
