// Package report renders a run (its transcript and workspace) or a batch
// (its results file) as one self-contained HTML file: no network, no
// external script, style, font or image, so it opens anywhere, offline.
//
// Everything in a report that came from a model or a block is hostile:
// text is escaped by html/template, Markdown is rendered with raw HTML
// left out and links shown as text, images are <img> with data URIs (an
// SVG too, so its scripts never run), and a Content-Security-Policy meta
// tag lets only the report's own style and script (by nonce) run.
package report

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// csp is the page's policy: nothing from anywhere but the nonce'd style
// and script and data: images; no form, no base, no frame.
func csp(nonce string) string {
	return fmt.Sprintf("default-src 'none'; style-src 'nonce-%s'; script-src 'nonce-%s'; img-src data:; base-uri 'none'; form-action 'none'", nonce, nonce)
}

// newNonce is a fresh random nonce for one page.
func newNonce() (string, error) {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make nonce: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// head is the shared start of both pages: the policy first, before any
// content a browser might act on.
const head = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style nonce="{{.Nonce}}">{{.CSS}}</style>
</head>
`

const baseCSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1em 1.5em;color:#1f2328;background:#fff}
h1{font-size:1.5em;margin:.3em 0}h2{font-size:1.2em;margin:1.2em 0 .4em}
.meta{color:#57606a;font-size:.9em}
.msg{border:1px solid #d0d7de;border-radius:6px;margin:1em 0;overflow:hidden}
.msg>.who{padding:.35em .8em;font-weight:600;border-bottom:1px solid #d0d7de;display:flex;justify-content:space-between}
.msg>.body{padding:.2em .9em .6em}
.agent-coder>.who{background:#ddf4ff}.agent-reviewer>.who{background:#fbefff}.agent-executor>.who{background:#f6f8fa}.agent-task>.who{background:#fff8c5}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:.5em .7em;border-radius:4px;margin:.4em 0;font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
.code{margin:.5em 0}.code .lang{font-size:.75em;color:#57606a}
.block{border-left:3px solid #8c959f;padding-left:.7em;margin:.7em 0}
.block.ok{border-color:#1a7f37}.block.fail{border-color:#cf222e}
.block .title{font-weight:600}
.out-label{font-size:.75em;color:#57606a;text-transform:uppercase}
.stderr pre{background:#fff1f0}
figure{margin:.6em 0}figure img{max-width:100%;border:1px solid #d0d7de;background:#fff}
figcaption{font-size:.85em;color:#57606a}
.note{color:#9a6700;font-size:.9em}
.url{color:#57606a;font-family:ui-monospace,monospace;font-size:.9em;word-break:break-all}
.link{text-decoration:underline dotted}
table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left}
th{background:#f6f8fa}
.status-approved{color:#1a7f37}.status-not_approved{color:#9a6700}.status-error{color:#cf222e}
`
