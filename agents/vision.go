package agents

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/workspace"
)

// Caps on what an agent with vision is shown: a block can make any number
// of files of any size, and every image costs the model tokens.
const (
	MaxVisionImages     = 4       // images attached to one report
	MaxVisionImageBytes = 2 << 20 // bytes of one image
	maxVisionNotes      = 8       // images named but not attached, per report
)

// WithVision lets the agent see the PNG and JPEG images that the blocks of
// the latest execution report created or changed in the workspace dir:
// they go with that report as image parts, and the report says which block
// made which image (see visionOf).
func WithVision(dir string) LLMOption { return func(a *LLM) { a.visionDir = dir } }

// imageKind is the MIME type an image file is sent as, by extension, and
// the bytes its content must start with; "" for a type never sent (it is
// named as skipped), and ok false for a file that is not an image at all.
func imageKind(name string) (mime string, magic []byte, ok bool) {
	switch strings.ToLower(path.Ext(name)) {
	case ".png":
		return "image/png", []byte("\x89PNG\r\n\x1a\n"), true
	case ".jpg", ".jpeg":
		return "image/jpeg", []byte("\xff\xd8\xff"), true
	case ".svg", ".gif", ".webp", ".bmp", ".tif", ".tiff":
		return "", nil, true
	}
	return "", nil, false
}

// visionOf reads the images the blocks of results made from the workspace
// dir and says, for the model, which block made which. Every name and byte
// came from the sandbox: files are read without following a symlink
// (workspace.ReadFile), capped in size and number, and sent only when
// their content starts as a PNG or JPEG does; names are escaped.
func visionOf(dir string, results []sandbox.Result) ([]model.Image, string) {
	type found struct {
		block int
		name  string
	}
	var files []found
	for i, r := range results {
		names := append(slices.Clone(r.Files.Created), r.Files.Modified...)
		slices.Sort(names)
		for _, n := range names {
			if _, _, ok := imageKind(n); ok && !workspace.Hidden(n) {
				files = append(files, found{i + 1, n})
			}
		}
	}
	if len(files) == 0 {
		return nil, ""
	}
	ws, err := workspace.Open(dir)
	if err != nil {
		return nil, "\n\nThe images the blocks made cannot be shown: the workspace cannot be opened."
	}
	defer ws.Close()
	var images []model.Image
	var lines []string
	notes := 0
	for _, f := range files {
		name := fmt.Sprintf("%q, made by block %d", safetext.Name(f.name), f.block)
		why := ""
		img, reason := readImage(ws, f.name, len(images), links(results[f.block-1]))
		if reason != "" {
			why = name + ": not attached (" + reason + ")"
		} else {
			images = append(images, img)
			lines = append(lines, fmt.Sprintf("- image %d: %s", len(images), name))
			continue
		}
		if notes++; notes <= maxVisionNotes {
			lines = append(lines, "- "+why)
		}
	}
	if notes > maxVisionNotes {
		lines = append(lines, fmt.Sprintf("- and %d more not attached", notes-maxVisionNotes))
	}
	head := "\n\nImages the blocks made (file names are the program's; the images are attached in this order):\n"
	return images, head + strings.Join(lines, "\n")
}

// links is the set of names a result lists as symlinks.
func links(r sandbox.Result) map[string]bool {
	m := map[string]bool{}
	for _, l := range r.Files.Links {
		m[l] = true
	}
	return m
}

// readImage reads one image file, or says why it is not attached.
func readImage(ws *workspace.Workspace, name string, attached int, symlinks map[string]bool) (model.Image, string) {
	mime, magic, _ := imageKind(name)
	switch {
	case mime == "":
		return model.Image{}, "only PNG and JPEG images are sent"
	case symlinks[name]:
		return model.Image{}, "it is a symlink"
	case attached >= MaxVisionImages:
		return model.Image{}, fmt.Sprintf("at most %d images are sent", MaxVisionImages)
	}
	data, cut, err := ws.ReadFile(name, MaxVisionImageBytes)
	switch {
	case err != nil:
		return model.Image{}, "it cannot be read as a regular file"
	case cut:
		return model.Image{}, fmt.Sprintf("larger than %d bytes", MaxVisionImageBytes)
	case !bytes.HasPrefix(data, magic):
		return model.Image{}, "its content is not a " + strings.TrimPrefix(mime, "image/") + " image"
	}
	return model.NewImage(mime, data), ""
}
