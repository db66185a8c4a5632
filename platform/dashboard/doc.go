// Package dashboard owns the web dashboard's frame, served by `eventline
// serve` at /: the layout, navigation and embedded assets (html/template
// pages kept live by htmx fragments), the overview page and its banner,
// sign-in with the API token and its sessions, and the Origin check of
// form actions. Each domain module adds its own pages from its package
// (Templates, Page, Handle); the operator's /streams page is platform/opsdash.
package dashboard
