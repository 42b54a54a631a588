// Package browsertest holds the end-to-end tests of the collector's
// dashboard in a real headless Chromium, driven with chromedp: a collector
// on a loopback listener over a SQLite store, seeded through its agent API
// (enrolment, signed results documents, heartbeats) with the agent's own
// upload client, then signed in to, browsed and signed out of as a person
// would. The tests read the rendered DOM (figures, run-chart SVG points,
// lines and special-cause classes) and check it against the store and
// against reporting/spc, and save full-page screenshots.
//
// The package has no code of its own, only tests. They look for a browser
// named by STEWARD_CHROMIUM, else chromium, chromium-browser or
// google-chrome on PATH, and skip without one (and under -short) unless
// STEWARD_REQUIRE_CHROMIUM=1, when they fail instead. Screenshots go to
// t.ArtifactDir(): run with -artifacts -outputdir DIR to keep them.
package browsertest
