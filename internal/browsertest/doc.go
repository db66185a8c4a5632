// Package browsertest drives a real headless Chromium (Debian's chromium
// package, which `make test` installs when it is missing) with chromedp, for
// the dashboard's browser tests: it records every console error and
// uncaught exception of the pages it opens, and saves screenshots where a
// person can look at them.
package browsertest
