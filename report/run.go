package report

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/transcript"
	"github.com/agentteam/agentteam/workspace"
)

// Default caps on the images a run report embeds: a block can write
// gigabytes, and a report must still open.
const (
	DefaultMaxImage  = 2 << 20  // bytes of one image
	DefaultMaxImages = 20 << 20 // bytes of all of them
	maxImageFiles    = 200      // images looked at
	maxWalkEntries   = 20000    // workspace entries looked at
	maxWalkDepth     = 16
)

// Options tune a report.
type Options struct {
	MaxImage, MaxImages int64 // 0: the defaults
	// TranscriptHref is the link to the transcript, relative to the
	// report; "" shows no link.
	TranscriptHref string
}

func (o Options) caps() (one, all int64) {
	one, all = o.MaxImage, o.MaxImages
	if one <= 0 {
		one = DefaultMaxImage
	}
	if all <= 0 {
		all = DefaultMaxImages
	}
	return one, all
}

// Run writes the report of the run whose transcript events are given, its
// images read from the workspace dir ("" or a missing dir: none).
func Run(ctx context.Context, w io.Writer, events []transcript.Event, dir string, opts Options) error {
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	r := newRunPage(events)
	r.Nonce, r.CSP = nonce, csp(nonce)
	r.TranscriptHref = opts.TranscriptHref
	r.placeImages(ctx, dir, opts)
	f := chromahtml.New(chromahtml.WithClasses(true))
	r.CSS = template.CSS(baseCSS + chromaCSS(f))
	if err := runTemplate.Execute(w, r); err != nil {
		return fmt.Errorf("write run report: %w", err)
	}
	return nil
}

type runPage struct {
	Nonce, CSP     string
	CSS            template.CSS
	Title          string
	Task           template.HTML
	Info           []kv
	Messages       []*message
	Result         *result
	Changes        []string // the change set event, as JSON lines
	Usage          []kv
	Images         []picture // images no message claimed
	Notes          []string
	TranscriptHref string
}

type kv struct{ K, V string }

type message struct {
	Anchor string
	Agent  string
	Meta   string
	HTML   template.HTML // a model's Markdown
	Head   string        // the executor's text before its blocks
	Blocks []*block
	Tail   string // the executor's text after them: files, skips
	Images []picture
	code   []string // the bodies of a model message's code blocks, for matching images
	tail   []string // the executor's file list lines
}

type block struct {
	Title  string
	OK     bool
	Parts  []part
	Images []picture
}

type part struct {
	Label string // "stdout", "stderr", or "" for text
	Text  string
}

type picture struct {
	Name string
	URI  template.URL // a data: URI we built; never a name or a path
	Note string       // why it is not shown
}

type result struct {
	Status, StopReason, Error string
	Turns                     string
	Duration                  string
}

func newRunPage(events []transcript.Event) *runPage {
	md := newMarkdown()
	r := &runPage{Title: "agentteam run"}
	usage := map[string]model.Usage{}
	var start, end time.Time
	var lastCoder *message
	for _, e := range events {
		switch e.Type {
		case "task":
			start = e.Time
			r.Task = md.Render(e.Content)
			r.Title = "agentteam run: " + firstLine(e.Content, 80)
			for _, k := range sortedKeys(e.Extra) {
				r.Info = append(r.Info, kv{k, safetext.Output(fmt.Sprint(e.Extra[k]))})
			}
		case "message":
			m := &message{Anchor: fmt.Sprintf("m%d", len(r.Messages)+1), Agent: e.Agent}
			m.Meta = messageMeta(e)
			if e.Usage != nil {
				u := usage[e.Agent]
				u.PromptTokens += e.Usage.PromptTokens
				u.CompletionTokens += e.Usage.CompletionTokens
				u.TotalTokens += e.Usage.TotalTokens
				usage[e.Agent] = u
			}
			if e.Agent == "executor" {
				parseExecutor(m, e.Content, lastCoder)
			} else {
				m.HTML = md.Render(e.Content)
				m.code = codeBodies(e.Content)
				if e.Agent == "coder" {
					lastCoder = m
				}
			}
			r.Messages = append(r.Messages, m)
		case "result":
			end = e.Time
			res := &result{StopReason: safetext.Output(e.Content), Error: safetext.Output(e.Error)}
			res.Status = safetext.Name(fmt.Sprint(e.Extra["status"]))
			res.Turns = safetext.Name(fmt.Sprint(e.Extra["turns"]))
			if !start.IsZero() && !end.IsZero() {
				res.Duration = end.Sub(start).Round(time.Millisecond).String()
			}
			r.Result = res
		case "changes":
			data, err := json.MarshalIndent(e.Extra, "", "  ")
			if err == nil {
				r.Changes = append(r.Changes, safetext.Output(string(data)))
			}
		}
	}
	total := 0
	for _, a := range sortedKeys(usage) {
		u := usage[a]
		total += u.TotalTokens
		r.Usage = append(r.Usage, kv{a, fmt.Sprintf("%d tokens (%d prompt, %d completion)", u.TotalTokens, u.PromptTokens, u.CompletionTokens)})
	}
	if len(r.Usage) > 0 {
		r.Usage = append(r.Usage, kv{"total", fmt.Sprintf("%d tokens", total)})
	}
	return r
}

func messageMeta(e transcript.Event) string {
	var parts []string
	if e.Usage != nil && e.Usage.TotalTokens > 0 {
		parts = append(parts, fmt.Sprintf("%d tokens", e.Usage.TotalTokens))
	}
	if e.DurationMS > 0 {
		parts = append(parts, (time.Duration(e.DurationMS * float64(time.Millisecond))).Round(time.Millisecond).String())
	}
	return strings.Join(parts, " · ")
}

func firstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return safetext.Name(s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var (
	blockLine  = regexp.MustCompile(`^Block (\d+) \((.*)$`)
	fenceStart = regexp.MustCompile(`^<<<output (\S+) (stdout|stderr)$`)
	// Lines of the executor's report that follow its blocks.
	tailLine = regexp.MustCompile(`^(Files (created|modified|deleted) in /workspace: |… and \d+ more|Permissions reset|The remaining \d+ block|Declined blocks |Skipped block )`)
)

// parseExecutor splits the executor's report (agents.report) into its
// blocks: each one's title line and its fenced outputs. Text inside a
// fence never starts a block, since the fence's nonce closes it.
func parseExecutor(m *message, content string, coder *message) {
	var head, tail []string
	var cur *block
	var fence, label string
	var out []string
	for _, line := range strings.Split(content, "\n") {
		switch {
		case fence != "":
			if line == "output "+fence+">>>" {
				cur.Parts = append(cur.Parts, part{Label: label, Text: strings.Join(out, "\n")})
				fence, out = "", nil
				continue
			}
			out = append(out, line)
		case cur != nil && fenceStart.MatchString(line):
			sm := fenceStart.FindStringSubmatch(line)
			fence, label = sm[1], sm[2]
		case tailLine.MatchString(line) || len(tail) > 0:
			tail = append(tail, line)
		case blockLine.MatchString(line):
			cur = &block{Title: line, OK: strings.Contains(line, "exit code 0") || strings.Contains(line, "saved, not run")}
			m.Blocks = append(m.Blocks, cur)
		case cur != nil:
			if strings.TrimSpace(line) != "" {
				cur.Parts = append(cur.Parts, part{Text: line})
			}
		default:
			head = append(head, line)
		}
	}
	if fence != "" && cur != nil { // cut short: show what there is
		cur.Parts = append(cur.Parts, part{Label: label, Text: strings.Join(out, "\n")})
	}
	m.Head = strings.TrimSpace(strings.Join(head, "\n"))
	m.Tail = strings.TrimSpace(strings.Join(tail, "\n"))
	m.tail = tail
	if coder != nil {
		m.code = coder.code
	}
}

var fenceRE = regexp.MustCompile("(?ms)^ {0,3}(```+|~~~+)[^\n]*\n(.*?)^ {0,3}```")

// codeBodies are the code blocks of a Markdown message, in order, as the
// executor numbers them (near enough: it is only to place images).
func codeBodies(s string) []string {
	var out []string
	for _, m := range fenceRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[2])
	}
	return out
}

// imageExt are the file types a report shows, by extension; the content
// must agree (sniffed), except SVG, which is text.
var imageExt = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml"}

// placeImages reads the images in the workspace and puts each after the
// block that made it: the executor message that lists it as created or
// modified, the block whose code names it (else the message's last
// block). Images no message lists go in a section of their own.
func (r *runPage) placeImages(ctx context.Context, dir string, opts Options) {
	if dir == "" {
		return
	}
	ws, err := workspace.Open(dir)
	if err != nil {
		r.Notes = append(r.Notes, "No images: the workspace cannot be opened: "+safetext.Output(err.Error()))
		return
	}
	defer ws.Close()
	files, complete, err := ws.Files(ctx, maxWalkEntries, maxWalkDepth)
	if err != nil || !complete {
		r.Notes = append(r.Notes, "Not every file of the workspace was looked at for images.")
	}
	one, all := opts.caps()
	var used int64
	seen := 0
	for _, name := range files {
		mime, ok := imageExt[strings.ToLower(path.Ext(name))]
		if !ok {
			continue
		}
		if seen++; seen > maxImageFiles {
			r.Notes = append(r.Notes, fmt.Sprintf("Only the first %d images of the workspace were looked at.", maxImageFiles))
			break
		}
		img := picture{Name: safetext.Name(name)}
		data, cut, err := ws.ReadFile(name, one)
		switch {
		case err != nil:
			img.Note = "not shown: " + safetext.Output(err.Error())
		case cut:
			img.Note = fmt.Sprintf("not shown: larger than %d bytes", one)
		case used+int64(len(data)) > all:
			img.Note = fmt.Sprintf("not shown: the report's images would pass %d bytes", all)
		case mime != "image/svg+xml" && http.DetectContentType(data) != mime:
			img.Note = "not shown: its content is not a " + strings.TrimPrefix(mime, "image/") + " image"
		default:
			used += int64(len(data))
			img.URI = template.URL("data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data)) //nolint:gosec // our own data URI
		}
		r.place(img, name)
	}
}

// place puts img after the block that made it, or on the page's own list.
func (r *runPage) place(img picture, name string) {
	shown := safetext.Name(name)
	for _, m := range r.Messages {
		if m.Agent != "executor" || !lists(m.tail, shown) {
			continue
		}
		if len(m.Blocks) == 0 {
			m.Images = append(m.Images, img)
			return
		}
		b := m.Blocks[len(m.Blocks)-1]
		base := path.Base(name)
		for i, code := range m.code {
			if strings.Contains(code, base) {
				if n := blockNumber(m.Blocks, i+1); n != nil {
					b = n
				}
				break
			}
		}
		b.Images = append(b.Images, img)
		return
	}
	r.Images = append(r.Images, img)
}

func blockNumber(blocks []*block, n int) *block {
	for _, b := range blocks {
		if sm := blockLine.FindStringSubmatch(b.Title); sm != nil && sm[1] == strconv.Itoa(n) {
			return b
		}
	}
	return nil
}

// lists says whether one of the executor's "Files created/modified" lines
// names shown (names are ", "-separated, maybe with " (symlink)").
func lists(tail []string, shown string) bool {
	for _, line := range tail {
		if !strings.HasPrefix(line, "Files created") && !strings.HasPrefix(line, "Files modified") {
			continue
		}
		_, names, _ := strings.Cut(line, "/workspace: ")
		rest := names
		for {
			i := strings.Index(rest, shown)
			if i < 0 {
				break
			}
			before := i == 0 || strings.HasSuffix(rest[:i], ", ")
			after := rest[i+len(shown):]
			if before && (after == "" || strings.HasPrefix(after, ", ")) {
				return true
			}
			rest = rest[i+1:]
		}
	}
	return false
}
