package report

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/alecthomas/chroma/v2"
	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"
)

// chromaStyle is the highlighting style; its CSS goes in the page's one
// nonce'd stylesheet, since the CSP refuses style attributes.
const chromaStyle = "github"

// markdown renders model text: goldmark with raw HTML left out (its
// default; never html.WithUnsafe), code blocks highlighted by chroma with
// classes, and links and images shown as text, so nothing a model wrote
// opens or fetches anything.
type markdown struct {
	md  goldmark.Markdown
	fmt *chromahtml.Formatter
}

func newMarkdown() *markdown {
	m := &markdown{fmt: chromahtml.New(chromahtml.WithClasses(true))}
	m.md = goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough),
		goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(m, 100))),
	)
	return m
}

// Render returns src as HTML. goldmark escapes text and drops raw HTML;
// the renderers below replace code blocks, links and images.
func (m *markdown) Render(src string) template.HTML {
	var b bytes.Buffer
	if err := m.md.Convert([]byte(src), &b); err != nil {
		// Convert fails only on a failing writer; show the text instead.
		return template.HTML("<pre>" + template.HTMLEscapeString(src) + "</pre>")
	}
	return template.HTML(b.String()) //nolint:gosec // goldmark output with raw HTML disabled
}

// RegisterFuncs implements renderer.NodeRenderer.
func (m *markdown) RegisterFuncs(r renderer.NodeRendererFuncRegisterer) {
	r.Register(ast.KindFencedCodeBlock, m.codeBlock)
	r.Register(ast.KindCodeBlock, m.codeBlock)
	r.Register(ast.KindLink, m.link)
	r.Register(ast.KindAutoLink, m.autoLink)
	r.Register(ast.KindImage, m.image)
}

func (m *markdown) codeBlock(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	var code strings.Builder
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		code.Write(seg.Value(src))
	}
	lang := ""
	if fb, ok := n.(*ast.FencedCodeBlock); ok && fb.Info != nil {
		lang = string(fb.Language(src))
	}
	w.WriteString(`<div class="code">`)
	if lang != "" {
		fmt.Fprintf(w, `<div class="lang">%s</div>`, template.HTMLEscapeString(lang))
	}
	highlight(w, m.fmt, lang, code.String())
	w.WriteString("</div>\n")
	return ast.WalkSkipChildren, nil
}

// highlight writes code highlighted as lang, or escaped as it is when no
// lexer knows lang. Chroma's formatter escapes every token.
func highlight(w util.BufWriter, f *chromahtml.Formatter, lang, code string) {
	lexer := lexers.Get(lang)
	if lexer == nil {
		lexer = lexers.Fallback
	}
	it, err := chroma.Coalesce(lexer).Tokenise(nil, code)
	if err == nil {
		var b bytes.Buffer
		if err = f.Format(&b, styles.Get(chromaStyle), it); err == nil {
			w.Write(b.Bytes())
			return
		}
	}
	fmt.Fprintf(w, "<pre>%s</pre>", template.HTMLEscapeString(code))
}

// link shows the link's text, and its destination as text beside it: a
// link a model chose opens nothing.
func (m *markdown) link(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	l := n.(*ast.Link)
	if entering {
		w.WriteString(`<span class="link">`)
	} else {
		fmt.Fprintf(w, `</span> <span class="url">(%s)</span>`, template.HTMLEscapeString(string(l.Destination)))
	}
	return ast.WalkContinue, nil
}

func (m *markdown) autoLink(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		fmt.Fprintf(w, `<span class="url">%s</span>`, template.HTMLEscapeString(string(n.(*ast.AutoLink).URL(src))))
	}
	return ast.WalkSkipChildren, nil
}

// image shows a Markdown image as text: the report shows only the images
// the blocks left in the workspace, never one fetched from a URL.
func (m *markdown) image(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		img := n.(*ast.Image)
		fmt.Fprintf(w, `<span class="url">[image: %s (%s)]</span>`,
			template.HTMLEscapeString(plainText(img, src)), template.HTMLEscapeString(string(img.Destination)))
	}
	return ast.WalkSkipChildren, nil
}

// plainText is the text below n.
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if t, ok := c.(*ast.Text); ok && entering {
			b.Write(t.Segment.Value(src))
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// chromaCSS is the highlighting style's stylesheet.
func chromaCSS(f *chromahtml.Formatter) string {
	var b bytes.Buffer
	if err := f.WriteCSS(&b, styles.Get(chromaStyle)); err != nil {
		return ""
	}
	return b.String()
}
