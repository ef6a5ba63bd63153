package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	in := Result{ID: 7, ExitCode: 3, Stdout: []byte("\xff\x00\x1b[31m"), StdoutBytes: 5}
	if err := Write(&buf, tok, TypeResult, in); err != nil {
		t.Fatal(err)
	}
	if err := Write(&buf, tok, TypeCancel, Cancel{ID: 7}); err != nil {
		t.Fatal(err)
	}
	f, err := Read(&buf, &tok)
	if err != nil || f.Type != TypeResult {
		t.Fatalf("Read = %+v, %v", f, err)
	}
	var out Result
	if err := f.Decode(&out); err != nil || out.ID != 7 || out.ExitCode != 3 || !bytes.Equal(out.Stdout, in.Stdout) {
		t.Fatalf("decoded %+v, %v", out, err)
	}
	if f, err := Read(&buf, &tok); err != nil || f.Type != TypeCancel {
		t.Fatalf("second frame: %+v, %v", f, err)
	}
	if _, err := Read(&buf, &tok); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

// TestOutputRoundTrip: an Output frame carries raw bytes (invalid UTF-8,
// escapes, NUL) unchanged, and is refused under another token like any
// frame: code in the sandbox cannot forge output either.
func TestOutputRoundTrip(t *testing.T) {
	tok, _ := NewToken()
	other, _ := NewToken()
	in := Output{ID: 3, Stream: Stderr, Data: []byte("a\xff\x00\x1b]52;c;AAAA\x07\n")}
	var buf bytes.Buffer
	if err := Write(&buf, tok, TypeOutput, in); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	f, err := Read(bytes.NewReader(raw), &tok)
	if err != nil || f.Type != TypeOutput {
		t.Fatalf("Read = %+v, %v", f, err)
	}
	var out Output
	if err := f.Decode(&out); err != nil || out.ID != in.ID || out.Stream != in.Stream || !bytes.Equal(out.Data, in.Data) {
		t.Fatalf("decoded %+v, %v; want %+v", out, err, in)
	}
	if _, err := Read(bytes.NewReader(raw), &other); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("under another token: %v, want ErrCorrupt", err)
	}
}

func TestReadRefuses(t *testing.T) {
	tok, _ := NewToken()
	other, _ := NewToken()
	good := func() []byte {
		var b bytes.Buffer
		Write(&b, tok, TypeResult, Result{ID: 1})
		return b.Bytes()
	}
	cases := map[string][]byte{
		"wrong token": func() []byte { var b bytes.Buffer; Write(&b, other, TypeResult, Result{ID: 1}); return b.Bytes() }(),
		"bad magic":   append([]byte("XX"), good()[2:]...),
		"bad version": func() []byte { b := good(); b[2] = 99; return b }(),
		"huge length": func() []byte {
			b := good()[:headerSize]
			binary.BigEndian.PutUint32(b[4+TokenSize:], MaxPayload+1)
			return b
		}(),
		"cut header":  good()[:5],
		"cut payload": good()[:headerSize+2],
		"text":        []byte("exit_code: 0\n{\"exit_code\": 0}\n"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(data), &tok)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read = %v, want ErrCorrupt", err)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	tok := Token{1, 2, 3}
	var b bytes.Buffer
	Write(&b, tok, TypeResult, Result{ID: 1, Stdout: []byte("hi")})
	f.Add(b.Bytes())
	f.Add([]byte("AT\x01\x05"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := Read(bytes.NewReader(data), &tok)
		if err == nil {
			if fr.Token != tok || len(fr.Payload) > MaxPayload {
				t.Fatalf("accepted a frame it should not: %+v", fr)
			}
			var r Result
			_ = fr.Decode(&r)
		}
	})
}
