package project

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/agentteam/agentteam/workspace"
)

// WritePatch writes the change set's applicable changes as a patch in
// git's format, which `git apply` takes: unified diffs with three lines of
// context, mode changes, symlinks, and binary files as git's binary
// literals. The old side comes from the project, checked against the
// copy's hashes: a file that changed there since the copy is left out
// with a line saying so, and its path returned.
func (c *Copy) WritePatch(w io.Writer, cs *ChangeSet) ([]string, error) {
	ws, err := workspace.Open(c.Workspace)
	if err != nil {
		return nil, fmt.Errorf("write patch: %w", err)
	}
	defer ws.Close()
	var left []string
	var b bytes.Buffer
	for _, ch := range cs.Applicable() {
		b.Reset()
		var old, now []byte
		if ch.Op != Created {
			if old, err = c.readOld(ch.Path, ch.oldHash); err != nil {
				left = append(left, ch.Path)
				fmt.Fprintf(w, "# %s changed in the project since the copy: left out of this patch\n", quote("", ch.Path))
				continue
			}
		}
		if ch.Op != Deleted {
			if now, err = c.readNew(ws, ch); err != nil {
				return left, fmt.Errorf("write patch: %w", err)
			}
		}
		writeFilePatch(&b, ch, old, now)
		if _, err := w.Write(b.Bytes()); err != nil {
			return left, fmt.Errorf("write patch: %w", err)
		}
	}
	return left, nil
}

// writeFilePatch writes one change's part of a patch.
func writeFilePatch(w *bytes.Buffer, ch Change, old, now []byte) {
	a, b := quote("a/", ch.Path), quote("b/", ch.Path)
	fmt.Fprintf(w, "diff --git %s %s\n", a, b)
	oldMode := ch.OldMode
	switch ch.Op {
	case Created:
		fmt.Fprintf(w, "new file mode %s\n", ch.Mode)
	case Deleted:
		fmt.Fprintf(w, "deleted file mode %s\n", ch.OldMode)
	default:
		if oldMode != "" {
			fmt.Fprintf(w, "old mode %s\nnew mode %s\n", oldMode, ch.Mode)
		} else {
			oldMode = ch.Mode
		}
		if ch.hash == ch.oldHash {
			return // the mode alone
		}
	}
	index := fmt.Sprintf("index %s..%s", blobID(old, ch.Op == Created), blobID(now, ch.Op == Deleted))
	if ch.Op == Modified && ch.OldMode == "" {
		index += " " + oldMode
	}
	fmt.Fprintln(w, index)
	if ch.Binary || isBinary(old) {
		fmt.Fprintln(w, "GIT binary patch")
		writeBinaryLiteral(w, now)
		writeBinaryLiteral(w, old)
		return
	}
	from, to := a, b
	if ch.Op == Created {
		from = "/dev/null"
	}
	if ch.Op == Deleted {
		to = "/dev/null"
	}
	edits := udiff.Lines(string(old), string(now))
	hunks, err := udiff.ToUnified(from, to, string(old), edits, udiff.DefaultContextLines)
	if err != nil || hunks == "" {
		return // no lines: an empty file created or deleted
	}
	// The library's own header lines are replaced by git's, which end a
	// name holding a space with a tab.
	_, body, _ := strings.Cut(hunks, "\n")
	_, body, _ = strings.Cut(body, "\n")
	fmt.Fprintf(w, "--- %s%s\n+++ %s%s\n%s", from, tabIfSpace(from), to, tabIfSpace(to), body)
}

func tabIfSpace(name string) string {
	if strings.Contains(name, " ") {
		return "\t"
	}
	return ""
}

// blobID is git's object name of a blob of data, or all zeros for none.
func blobID(data []byte, none bool) string {
	if none {
		return strings.Repeat("0", 40)
	}
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// quote is prefix+p as git writes a path in a patch: in double quotes with
// C escapes when it holds a quote, a backslash, a control character or a
// byte outside ASCII.
func quote(prefix, p string) string {
	s := prefix + p
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r >= 0x7f || r == '"' || r == '\\' }) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\a':
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\v':
			b.WriteString(`\v`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < 0x20 || c >= 0x7f {
				fmt.Fprintf(&b, `\%03o`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// writeBinaryLiteral writes data as one hunk of a git binary patch: its
// size, then its zlib-deflated bytes in git's base-85 lines, then a blank
// line.
func writeBinaryLiteral(w *bytes.Buffer, data []byte) {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write(data)
	zw.Close()
	fmt.Fprintf(w, "literal %d\n", len(data))
	deflated := z.Bytes()
	for len(deflated) > 0 {
		n := min(len(deflated), 52)
		if n <= 26 {
			w.WriteByte(byte('A' + n - 1))
		} else {
			w.WriteByte(byte('a' + n - 27))
		}
		w.WriteString(base85(deflated[:n]))
		w.WriteByte('\n')
		deflated = deflated[n:]
	}
	w.WriteByte('\n')
}

const base85Chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"

// base85 encodes data as git does: each group of four bytes (the last
// padded with zeros) as five characters, most significant first.
func base85(data []byte) string {
	var b strings.Builder
	for i := 0; i < len(data); i += 4 {
		var acc uint32
		for j := range 4 {
			acc <<= 8
			if i+j < len(data) {
				acc |= uint32(data[i+j])
			}
		}
		var group [5]byte
		for j := 4; j >= 0; j-- {
			group[j] = base85Chars[acc%85]
			acc /= 85
		}
		b.Write(group[:])
	}
	return b.String()
}

// SavePatch writes the change set's patch to file (mode 0600, as a
// transcript: it holds the project's code) and returns the paths left out.
func (c *Copy) SavePatch(file string, cs *ChangeSet) ([]string, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write patch: %w", err)
	}
	left, err := c.WritePatch(f, cs)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write patch: %w", cerr)
	}
	return left, err
}
